"""The benchmarks `python -m bench` runs, in order, and what they share."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench import seed
from bench.procs import LOG_DIR, FakeOpenAI, Process, worker_rusage
from bench.report import Row
from bench.sizes import Size

BENCH_USERNAME = "bench-admin"


@dataclass
class Context:
    """What the benchmarks of one run share; `close()` stops what was started."""

    size: Size
    log: Callable[[str], None]
    dirty: set[str] = field(default_factory=set)
    server: FakeOpenAI | None = None
    worker: Process | None = None

    def admin(self) -> Any:
        from django.contrib.auth import get_user_model

        user, created = get_user_model().objects.get_or_create(
            username=BENCH_USERNAME,
            defaults={"is_staff": True, "is_superuser": True},
        )
        if created:
            user.set_unusable_password()
            user.save()
        return user

    def client(self) -> Any:
        from django.test import Client

        client = Client()
        client.force_login(self.admin())
        return client

    def fake_openai(self) -> FakeOpenAI:
        from bench.procs import start_fake_openai

        if self.server is None:
            self.server = start_fake_openai(delay=0.1)
        return self.server

    def rq_worker(self) -> Process:
        """One rq worker pointed at the fake server, started once per run."""
        from bench.procs import start_worker, wait_until
        from bench.rerun import CONCURRENCY

        if self.worker is None:
            server = self.fake_openai()
            self.worker = start_worker(
                "rqworker",
                OPENAI_API_KEY="bench",
                OPENAI_BASE_URL=server.base_url,
                LLM_CONCURRENCY=str(CONCURRENCY),
                BENCH_RUSAGE_FILE=str(LOG_DIR / "worker-rusage.json"),
            )
            wait_until(_worker_registered, timeout=60, what="the rq worker")
        return self.worker

    def stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None

    def close(self) -> None:
        self.stop_worker()
        if self.server is not None:
            self.server.stop()
            self.server = None
        for part in sorted(self.dirty):
            seed.restore(part, self.size, self.log)
        self.dirty.clear()


def _worker_registered() -> bool:
    import django_rq
    from rq import Worker

    return bool(Worker.all(connection=django_rq.get_connection("default")))


def prepare() -> None:
    """Leave nothing of an earlier, interrupted run active or queued."""
    import django_rq
    from django.utils import timezone

    from reflexio_admin.models import ACTIVE_STATUSES, Operation

    django_rq.get_queue("default").empty()
    Operation.objects.filter(status__in=ACTIVE_STATUSES).update(
        status="cancelled", finished_at=timezone.now(), cancel_requested=True
    )
    os.makedirs(LOG_DIR, exist_ok=True)


def pages(context: Context) -> list[Row]:
    from bench.pages import measure_lists

    return measure_lists(context.client(), context.size, context.log)


def review(context: Context) -> list[Row]:
    from django.test import Client

    from bench.pages import measure_review

    return measure_review(context.client(), Client(), context.size, context.log)


def upgrade(context: Context) -> list[Row]:
    from bench import upgrade as upgrades

    context.dirty.add("profiles")
    return upgrades.measure(context.size, context.log)


def rerun(context: Context) -> list[Row]:
    from bench.rerun import measure_rerun

    context.dirty.add("profiles")
    context.rq_worker()
    return measure_rerun(
        context.size, context.fake_openai(), context.admin(), context.log
    )


def memory(context: Context) -> list[Row]:
    from bench.rerun import measure_memory

    context.dirty.add("profiles")
    worker = context.rq_worker()
    row = measure_memory(
        context.size, context.fake_openai(), worker.pid, context.admin(), context.log
    )
    # The kernel's own account: the largest horse the worker waited for.
    context.stop_worker()
    usage = worker_rusage(LOG_DIR / "worker-rusage.json")
    horse_mb = usage.get("children_maxrss_kb", 0) / 1024
    row.extra["rusage_children_max_mb"] = horse_mb
    if row.measured is not None and horse_mb > row.measured:
        row.measured = horse_mb
        row.passed = bool(row.passed) and horse_mb <= row.extra.get("limit_mb", 300)
    return [row]


def publish(context: Context) -> list[Row]:
    from bench.publish import measure

    context.stop_worker()
    return measure(context.size, context.admin(), context.log)
