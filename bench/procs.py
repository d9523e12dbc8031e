"""Processes the benchmarks start: the fake OpenAI server, rq workers, gunicorn.

Each is started in its own session so that it can be stopped with whatever it
forked, and every start returns a handle whose `stop()` is safe to call twice.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LOG_DIR = ROOT / "bench-results" / "logs"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    condition: Callable[[], object], *, timeout: float, what: str, every: float = 0.1
) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the process group, then SIGKILL it if it does not go."""
        if self.popen.poll() is not None:
            return
        try:
            os.killpg(self.popen.pid, signal.SIGTERM)
            self.popen.wait(timeout=timeout)
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)


def start(name: str, command: list[str], env: dict[str, str]) -> Process:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = open(LOG_DIR / f"{name}.log", "ab")  # noqa: SIM115
    popen = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    return Process(name, popen)


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


# The fake OpenAI server


@dataclass
class FakeOpenAI:
    process: Process
    port: int

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root}/v1"

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.root}/_stats", timeout=30) as response:
            return dict(json.load(response))

    def calls(self) -> int:
        return len(self.stats()["requests"])

    def control(self, **options: Any) -> None:
        request = urllib.request.Request(
            f"{self.root}/_control",
            data=json.dumps(options).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30):
            pass

    def stop(self) -> None:
        self.process.stop()


def start_fake_openai(delay: float) -> FakeOpenAI:
    port = free_port()
    process = start(
        "openai-server",
        [
            sys.executable,
            "-m",
            "tests.support.openai_server",
            "--port",
            str(port),
            "--delay",
            str(delay),
        ],
        child_env(),
    )
    server = FakeOpenAI(process, port)

    def ready() -> bool:
        try:
            server.stats()
        except (OSError, urllib.error.URLError):
            return False
        return True

    wait_until(ready, timeout=30, what="the fake OpenAI server")
    return server


# rq workers, and the memory of their work horses


def read_status_kb(pid: int, field_name: str) -> int | None:
    """A `kB` field of /proc/<pid>/status (VmHWM, VmRSS), or None if gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return None


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


@dataclass
class MemoryWatch:
    """Polls the high-water mark of a worker and of every horse it forks."""

    worker_pid: int
    every: float = 0.05
    peak_horse_kb: int = 0
    peak_worker_kb: int = 0
    horses: set[int] = field(default_factory=set)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> MemoryWatch:
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _poll(self) -> None:
        while not self._stop.wait(self.every):
            worker = read_status_kb(self.worker_pid, "VmHWM") or 0
            self.peak_worker_kb = max(self.peak_worker_kb, worker)
            for pid in children(self.worker_pid):
                self.horses.add(pid)
                horse = read_status_kb(pid, "VmHWM") or 0
                self.peak_horse_kb = max(self.peak_horse_kb, horse)


def start_worker(name: str, **extra: str) -> Process:
    """`manage.py rqworker default` through bench.worker (reports rusage)."""
    return start(
        name,
        [sys.executable, "-m", "bench.worker", "default"],
        child_env(QUEUE_BACKEND="rq", **extra),
    )


def worker_rusage(path: Path) -> dict[str, int]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


# gunicorn


def start_gunicorn(port: int, workers: int, **extra: str) -> Process:
    process = start(
        "gunicorn",
        [
            sys.executable,
            "-m",
            "gunicorn",
            "reflexio_admin.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        child_env(**extra),
    )

    def ready() -> bool:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/login/", timeout=5
            ) as response:
                return response.status == 200
        except (OSError, urllib.error.URLError):
            if not process.alive():
                raise RuntimeError("gunicorn exited; see its log") from None
            return False

    wait_until(ready, timeout=60, what="gunicorn")
    return process
