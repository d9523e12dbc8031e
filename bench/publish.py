"""Publishing interactions over HTTP through gunicorn, as agents do.

`gunicorn reflexio_admin.wsgi` serves on loopback with persistent database
connections (DATABASE_CONN_MAX_AGE, as a production deployment sets it) and
the default `batch_interval`, so automatic extraction is queued the way it
is in production: jobs wait in Redis, no worker runs them here. Clients post
`/api/publish_interaction` with a Bearer key and 4 turns per request, one
client after another for the sequential figure, then 8 at once.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.procs import free_port, start_gunicorn
from bench.report import Row
from bench.sizes import Size

CLIENTS = 8
TARGET_RPS = 200.0
GUNICORN_WORKERS = 5
USER_PREFIX = "pub-"
PUBLISH_USERS = 500


@dataclass
class Outcome:
    ok: int = 0
    failed: int = 0
    seconds: float = 0.0
    first_error: str = ""

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


def _payload(n: int, tag: str) -> bytes:
    user = f"{USER_PREFIX}{tag}-{n % PUBLISH_USERS}"
    turns = [
        {"role": "User", "content": f"I prefer window seats, trip {n}."},
        {"role": "Assistant", "content": "Noted: window seats."},
        {"role": "User", "content": "I am allergic to peanuts."},
        {"role": "Assistant", "content": "Thanks, I will keep that in mind."},
    ]
    body = {
        "user_id": user,
        "session_id": f"{user}-s{n // PUBLISH_USERS}",
        "source": "chat",
        "agent_version": "v1",
        "interaction_data_list": turns,
    }
    return json.dumps(body).encode()


def _post(port: int, key: str, body: bytes) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(
            "POST",
            "/api/publish_interaction",
            body=body,
            headers={
                "Authorization": f"Bearer {key}",
                "Content-Type": "application/json",
            },
        )
        response = connection.getresponse()
        text = response.read().decode(errors="replace")
        return response.status, text
    finally:
        connection.close()


def run_clients(
    port: int, key: str, *, clients: int, per_client: int, tag: str
) -> Outcome:
    """`clients` threads, each posting `per_client` publishes back to back."""
    outcome = Outcome()
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)

    def client(index: int) -> None:
        start.wait()
        for i in range(per_client):
            n = index * per_client + i
            try:
                status, text = _post(port, key, _payload(n, tag))
                good = status == 200 and json.loads(text).get("success") is True
                error = "" if good else f"HTTP {status}: {text[:200]}"
            except (OSError, ValueError, http.client.HTTPException) as exc:
                good, error = False, f"{type(exc).__name__}: {exc}"
            with lock:
                if good:
                    outcome.ok += 1
                else:
                    outcome.failed += 1
                    outcome.first_error = outcome.first_error or error

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    outcome.seconds = time.perf_counter() - started
    return outcome


def cleanup(operation_floor: int) -> None:
    """Remove what the publishes stored and the extraction they queued."""
    import django_rq
    from django.db import connection, transaction

    from reflexio_admin.models import AuditEvent, ExtractionCursor, Operation

    django_rq.get_queue("default").empty()
    with transaction.atomic():
        AuditEvent.objects.filter(operation_id__gt=operation_floor).delete()
        Operation.objects.filter(pk__gt=operation_floor).delete()
        ExtractionCursor.objects.filter(scope_key__contains=f"/{USER_PREFIX}").delete()
        with connection.cursor() as cursor:
            for table in ("reflexio_admin_interaction", "reflexio_admin_request"):
                cursor.execute(
                    f"DELETE FROM {table} WHERE user_id LIKE %s", [f"{USER_PREFIX}%"]
                )


def measure(size: Size, admin: Any, log: Callable[[str], None]) -> list[Row]:
    from django.db.models import Max

    from reflexio_admin.models import ApiKey, GenerationSettings, Operation

    floor = Operation.objects.aggregate(top=Max("pk"))["top"] or 0
    interval = GenerationSettings.load().batch_interval
    api_key, raw = ApiKey.issue(user=admin, name="bench publish")
    port = free_port()
    server = start_gunicorn(
        port,
        GUNICORN_WORKERS,
        DATABASE_CONN_MAX_AGE="600",
        QUEUE_BACKEND="rq",
    )
    try:
        # Warm every gunicorn worker (imports, connections) before timing.
        run_clients(port, raw, clients=CLIENTS, per_client=5, tag="warm")
        sequential = run_clients(
            port, raw, clients=1, per_client=size.publish_sequential, tag="seq"
        )
        concurrent = run_clients(
            port, raw, clients=CLIENTS, per_client=size.publish_per_client, tag="par"
        )
    finally:
        server.stop()
        queued = Operation.objects.filter(pk__gt=floor).count()
        cleanup(floor)
        api_key.delete()
    log(
        f"publish: sequential {sequential.rps:.0f} rps, {CLIENTS} clients "
        f"{concurrent.rps:.0f} rps, {concurrent.failed + sequential.failed} failed, "
        f"{queued} extraction runs queued"
        + (f"; first error: {concurrent.first_error}" if concurrent.failed else "")
    )
    failed = concurrent.failed + sequential.failed
    return [
        Row(
            group="publish",
            name=f"{CLIENTS} clients, 4 turns per request, gunicorn "
            f"{GUNICORN_WORKERS} workers",
            target=f">= {TARGET_RPS:.0f} rps, no failure",
            measured=concurrent.rps,
            unit="rps",
            baseline=sequential.rps,
            baseline_name="1 client",
            passed=failed == 0 and concurrent.rps >= TARGET_RPS,
            notes=f"{concurrent.ok:,} requests, {failed} failed; batch_interval "
            f"{interval} (automatic extraction queued {queued} runs)",
            extra={
                "sequential_rps": sequential.rps,
                "requests": concurrent.ok + concurrent.failed,
                "failed": failed,
                "first_error": concurrent.first_error or sequential.first_error,
                "batch_interval": interval,
                "extraction_runs_queued": queued,
            },
        )
    ]
