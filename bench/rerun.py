"""Reruns through a real rq worker against the fake OpenAI-compatible server.

The rerun benchmark regenerates the profiles of one block of users, selected
by a time window, with every model call answered after a fixed delay. Its
baseline is the ideal wall time: the number of calls the server saw, times
the delay, divided by the concurrency, i.e. the model busy all the time.

The memory benchmark starts a rerun of every user in the data set with no
delay, follows the high-water mark of the work horse for a while, and then
cancels the run: the whole data set is in scope, so whatever a plan loads up
front or keeps per user shows, without waiting hours for 100,000 users.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from bench import seed
from bench.procs import FakeOpenAI, MemoryWatch, read_status_kb
from bench.report import Row
from bench.sizes import Size

DELAY = 0.1
CONCURRENCY = 8
RERUN_RATIO = 1.15
MEMORY_LIMIT_MB = 300.0


def _final(operation_id: int) -> Any:
    from reflexio_admin.models import FINAL_STATUSES, Operation

    operation = Operation.objects.get(pk=operation_id)
    return operation if operation.status in FINAL_STATUSES else None


def _wait_final(operation_id: int, timeout: float, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        operation = _final(operation_id)
        if operation is not None:
            return operation
        time.sleep(every)
    raise RuntimeError(f"operation {operation_id} did not end within {timeout:.0f} s")


def measure_rerun(
    size: Size, server: FakeOpenAI, admin: Any, log: Callable[[str], None]
) -> list[Row]:
    from profiles import services

    start, end, first, last = seed.rerun_window(size)
    users = last - first
    server.control(reset=True)
    server.control(default_delay=DELAY)

    started = time.perf_counter()
    operation = services.rerun_profile_generation(
        start_time=datetime.fromisoformat(start),
        end_time=datetime.fromisoformat(end),
        requested_by=admin,
    )
    timeout = 20 * users * 0.5 / CONCURRENCY + 120
    operation = _wait_final(operation.pk, timeout)
    wall = time.perf_counter() - started
    calls = server.calls()
    ideal = calls * DELAY / CONCURRENCY
    in_worker = (operation.finished_at - operation.started_at).total_seconds()
    # Time a slot spent on anything but waiting for the model, per user.
    overhead_ms = max(0.0, wall * CONCURRENCY - calls * DELAY) / users * 1000
    log(
        f"rerun: {operation.status}, {operation.processed_users} users, "
        f"{operation.failed_users} failed, {calls} calls, wall {wall:.1f} s, "
        f"ideal {ideal:.1f} s"
    )
    complete = (
        operation.status == "completed"
        and operation.processed_users == users
        and operation.failed_users == 0
    )
    return [
        Row(
            group="rerun",
            name=f"{users:,} users through rq, {calls:,} LLM calls at "
            f"{DELAY * 1000:.0f} ms, concurrency {CONCURRENCY}",
            target=f"<= {RERUN_RATIO}x ideal",
            measured=wall,
            unit="s",
            baseline=ideal,
            baseline_name="calls x delay / concurrency",
            passed=complete and wall <= RERUN_RATIO * ideal,
            notes=f"{overhead_ms:.0f} ms per user outside the LLM; "
            f"{in_worker:.1f} s inside the worker; "
            f"{operation.items_produced:,} profiles",
            extra={
                "calls": calls,
                "users": users,
                "processed": operation.processed_users,
                "failed": operation.failed_users,
                "seconds_in_worker": in_worker,
                "overhead_ms_per_user": overhead_ms,
            },
        ),
        Row(
            group="rerun",
            name="time outside the LLM, per user and slot",
            target="reported",
            measured=overhead_ms,
            unit="ms",
            notes="(wall x concurrency - calls x delay) / users",
        ),
    ]


def measure_memory(
    size: Size,
    server: FakeOpenAI,
    worker_pid: int,
    admin: Any,
    log: Callable[[str], None],
) -> Row:
    """Peak memory of the work horse while it reruns every user."""
    from profiles import services
    from reflexio_admin.models import Operation
    from reflexio_admin.operations import operation_cancel

    idle_kb = read_status_kb(worker_pid, "VmRSS") or 0
    server.control(reset=True)
    with MemoryWatch(worker_pid) as watch:
        operation = services.rerun_profile_generation(requested_by=admin)
        deadline = time.monotonic() + size.memory_seconds
        while time.monotonic() < deadline and _final(operation.pk) is None:
            time.sleep(0.2)
        operation = Operation.objects.get(pk=operation.pk)
        if operation.is_active:
            operation_cancel(operation=operation)
        operation = _wait_final(operation.pk, 120)
    peak_mb = watch.peak_horse_kb / 1024
    log(
        f"memory: horse peak {peak_mb:.0f} MB, worker peak "
        f"{watch.peak_worker_kb / 1024:.0f} MB, {operation.processed_users:,} of "
        f"{operation.total_users:,} users before the stop ({operation.status})"
    )
    return Row(
        group="memory",
        name=f"work horse during a rerun of all {operation.total_users:,} users",
        target=f"<= {MEMORY_LIMIT_MB:.0f} MB",
        measured=peak_mb,
        unit="MB",
        baseline=idle_kb / 1024,
        baseline_name="idle worker RSS",
        passed=bool(watch.horses) and peak_mb <= MEMORY_LIMIT_MB,
        notes=f"VmHWM; {operation.processed_users:,} users processed in "
        f"{size.memory_seconds:.0f} s, then cancelled",
        extra={
            "processed_users": operation.processed_users,
            "total_users": operation.total_users,
            "worker_peak_mb": watch.peak_worker_kb / 1024,
            "horses": len(watch.horses),
            "limit_mb": MEMORY_LIMIT_MB,
        },
    )
