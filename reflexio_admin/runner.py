"""Running an operation inside a job: users in parallel, progress, cancel, heartbeat.

A kind of operation is described by a *plan* (see `UserPlan` and `SinglePlan`)
that the owning app builds from the operation's parameters. The runner walks
the plan's users with up to `LLM_CONCURRENCY` of them in flight, records each
user's outcome, flushes progress about twice a second, stops before the next
user when a cancel is requested, and keeps a heartbeat so that a dead worker
is noticed.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any, Protocol

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from rq.timeouts import BaseTimeoutException as JobTimeoutException

from reflexio_admin.llm import LLMError, Usage
from reflexio_admin.models import (
    Operation,
    OperationKind,
    OperationStatus,
    OperationUser,
)

logger = logging.getLogger(__name__)

FLUSH_SECONDS = 0.5
# Threads per model slot: while some wait on the model, others do their
# users' database work, so the model stays busy.
USER_THREADS_PER_SLOT = 2
MAX_ERROR_LENGTH = 500

# Where each kind's plan is built: "module:function(operation) -> plan".
PLAN_BUILDERS: dict[str, str] = {
    OperationKind.RERUN_PROFILES: "profiles.services:plan_rerun",
    OperationKind.MANUAL_PROFILES: "profiles.services:plan_manual",
    OperationKind.AUTO_PROFILES: "profiles.services:plan_auto",
    OperationKind.RERUN_PLAYBOOKS: "playbooks.services:plan_rerun",
    OperationKind.MANUAL_PLAYBOOKS: "playbooks.services:plan_manual",
    OperationKind.AUTO_PLAYBOOKS: "playbooks.services:plan_auto",
    OperationKind.AGGREGATE_PLAYBOOKS: "playbooks.aggregation:plan_aggregation",
}
RETRYABLE_KINDS = frozenset(PLAN_BUILDERS) - {OperationKind.AGGREGATE_PLAYBOOKS}


class UserFailure(Exception):
    """One user could not be processed; the run goes on without them."""


@dataclass
class UserOutcome:
    items: int = 0
    usage: Usage = field(default_factory=Usage)
    llm_calls: int = 0


class UserPlan(Protocol):
    """A run that processes users one by one."""

    def count_users(self) -> int: ...

    def users(self) -> Iterable[str]: ...

    def process(self, user_id: str) -> UserOutcome: ...

    def finish(self, operation: Operation) -> dict[str, Any]: ...


class SinglePlan(Protocol):
    """A run that is one piece of work (aggregation)."""

    def run(self, operation: Operation) -> UserOutcome: ...


def build_plan(operation: Operation) -> UserPlan | SinglePlan:
    module_name, _, func_name = PLAN_BUILDERS[operation.kind].partition(":")
    builder: Callable[[Operation], UserPlan | SinglePlan] = getattr(
        import_module(module_name), func_name
    )
    return builder(operation)


def claim(operation_id: int) -> Operation | None:
    """Move a queued operation to running; None if someone else has it."""
    now = timezone.now()
    claimed = Operation.objects.filter(
        pk=operation_id, status=OperationStatus.QUEUED, cancel_requested=False
    ).update(status=OperationStatus.RUNNING, started_at=now, heartbeat_at=now)
    if not claimed:
        return None
    return Operation.objects.get(pk=operation_id)


def finish(operation_id: int, status: str, **fields: Any) -> bool:
    """End a running operation; False if it had already ended."""
    return bool(
        Operation.objects.filter(
            pk=operation_id,
            status__in=[OperationStatus.QUEUED, OperationStatus.RUNNING],
        ).update(status=status, finished_at=timezone.now(), **fields)
    )


def execute(operation: Operation) -> None:
    """Run a claimed operation to its end and record the outcome."""
    plan = build_plan(operation)
    with _Heartbeat(operation.pk):
        if hasattr(plan, "process"):
            _execute_users(operation, plan)  # type: ignore[arg-type]
        else:
            _execute_single(operation, plan)  # type: ignore[arg-type]


def _execute_single(operation: Operation, plan: SinglePlan) -> None:
    Operation.objects.filter(pk=operation.pk).update(total_users=0)
    outcome = plan.run(operation)
    finish(
        operation.pk,
        OperationStatus.COMPLETED,
        items_produced=F("items_produced") + outcome.items,
        prompt_tokens=F("prompt_tokens") + outcome.usage.prompt_tokens,
        completion_tokens=F("completion_tokens") + outcome.usage.completion_tokens,
        llm_calls=F("llm_calls") + outcome.llm_calls,
    )


def _selected_users(operation: Operation, plan: UserPlan) -> tuple[int, Iterator[str]]:
    only = operation.params.get("only_user_ids")
    excluded = set(operation.params.get("exclude_user_ids") or ())
    if only is not None:
        wanted = set(only) - excluded
        users = (user for user in plan.users() if user in wanted)
        return len(wanted), users
    total = max(0, plan.count_users() - len(excluded))
    return total, (user for user in plan.users() if user not in excluded)


def _execute_users(operation: Operation, plan: UserPlan) -> None:
    total, users = _selected_users(operation, plan)
    Operation.objects.filter(pk=operation.pk).update(total_users=total)
    progress = _Progress(operation.pk)
    concurrency = max(1, settings.LLM_CONCURRENCY)
    if settings.QUEUE_BACKEND == "sync" or concurrency == 1:
        for user_id in users:
            if progress.cancelled():
                break
            progress.add(user_id, _process(plan, user_id))
    else:
        _run_pool(plan, users, progress, concurrency)
    progress.flush(force=True)

    summary = plan.finish(operation)
    if progress.cancel_seen:
        finish(operation.pk, OperationStatus.CANCELLED, result=summary)
        logger.info("Operation %s cancelled", operation.pk)
    else:
        finish(operation.pk, OperationStatus.COMPLETED, result=summary)
        logger.info("Operation %s completed", operation.pk)


def _run_pool(
    plan: UserPlan, users: Iterator[str], progress: _Progress, concurrency: int
) -> None:
    """Process users on `concurrency` x USER_THREADS_PER_SLOT threads.

    The model sees at most `concurrency` calls at once (`llm.call_slots`);
    the extra threads read and write the database for their users while the
    others wait on the model, so the model is never left idle for that.
    Each thread keeps its database connection until the run ends.
    """
    size = int(concurrency * USER_THREADS_PER_SLOT)
    todo: queue.SimpleQueue[str | None] = queue.SimpleQueue()
    done: queue.SimpleQueue[tuple[str, UserOutcome | UserError]] = queue.SimpleQueue()

    def work() -> None:
        try:
            while (user_id := todo.get()) is not None:
                done.put((user_id, _process(plan, user_id)))
                _repair_connection()
        finally:
            connection.close()

    threads = [
        threading.Thread(target=work, name=f"reflexio-user-{i}", daemon=True)
        for i in range(size)
    ]
    for thread in threads:
        thread.start()
    queued = 0
    exhausted = False
    try:
        while True:
            while not exhausted and queued < size * 2:
                user_id = next(users, None)
                if user_id is None:
                    exhausted = True
                    break
                todo.put(user_id)
                queued += 1
            if not queued:
                return
            try:
                user_id, outcome = done.get(timeout=FLUSH_SECONDS)
            except queue.Empty:
                progress.flush()
            else:
                queued -= 1
                progress.add(user_id, outcome)
            if progress.cancelled() and not exhausted:
                # Stop before the next user: drop the users nobody started.
                exhausted = True
                queued -= _drain(todo)
    finally:
        _drain(todo)
        for _ in threads:
            todo.put(None)
        for thread in threads:
            thread.join(timeout=FLUSH_SECONDS)


def _repair_connection() -> None:
    """Drop this thread's connection if an error left it unusable."""
    if connection.connection is not None and connection.errors_occurred:
        if not connection.is_usable():
            connection.close()
        connection.errors_occurred = False


def _drain(todo: queue.SimpleQueue[str | None]) -> int:
    """Take every waiting user off `todo`; return how many there were."""
    dropped = 0
    while True:
        try:
            todo.get_nowait()
        except queue.Empty:
            return dropped
        dropped += 1


@dataclass(frozen=True)
class UserError:
    message: str
    usage: Usage = field(default_factory=Usage)


def _process(plan: UserPlan, user_id: str) -> UserOutcome | UserError:
    """Process one user; return the outcome or the reason it failed."""
    try:
        return plan.process(user_id)
    except LLMError as exc:
        return UserError(str(exc)[:MAX_ERROR_LENGTH], exc.usage)
    except UserFailure as exc:
        return UserError(str(exc)[:MAX_ERROR_LENGTH])
    except JobTimeoutException:
        # The job ran past its time limit: the whole run stops here.
        raise
    except Exception as exc:
        logger.exception("Unexpected error while processing a user")
        return UserError(f"internal error ({type(exc).__name__})")


class _Progress:
    """Collects user outcomes and writes them in small batches."""

    def __init__(self, operation_id: int) -> None:
        self.operation_id = operation_id
        self.rows: list[OperationUser] = []
        self.processed = 0
        self.failed = 0
        self.items = 0
        self.usage = Usage()
        self.calls = 0
        self.last_flush = time.monotonic()
        self.cancel_seen = False

    def add(self, user_id: str, outcome: UserOutcome | UserError) -> None:
        if isinstance(outcome, UserError):
            self.failed += 1
            self.usage = self.usage + outcome.usage
            self.rows.append(
                OperationUser(
                    operation_id=self.operation_id,
                    user_id=user_id,
                    state=OperationUser.State.FAILED,
                    error=outcome.message,
                )
            )
            self.flush()
            return
        self.processed += 1
        self.items += outcome.items
        self.usage = self.usage + outcome.usage
        self.calls += outcome.llm_calls
        self.rows.append(
            OperationUser(
                operation_id=self.operation_id,
                user_id=user_id,
                state=OperationUser.State.DONE,
                items=outcome.items,
            )
        )
        self.flush()

    def cancelled(self) -> bool:
        return self.cancel_seen

    def flush(self, force: bool = False) -> None:
        if not force and time.monotonic() - self.last_flush < FLUSH_SECONDS:
            return
        with transaction.atomic():
            OperationUser.objects.bulk_create(self.rows, ignore_conflicts=True)
            Operation.objects.filter(pk=self.operation_id).update(
                processed_users=F("processed_users") + self.processed,
                failed_users=F("failed_users") + self.failed,
                items_produced=F("items_produced") + self.items,
                prompt_tokens=F("prompt_tokens") + self.usage.prompt_tokens,
                completion_tokens=F("completion_tokens") + self.usage.completion_tokens,
                llm_calls=F("llm_calls") + self.calls,
                heartbeat_at=timezone.now(),
            )
        self.rows = []
        self.processed = self.failed = self.items = self.calls = 0
        self.usage = Usage()
        self.last_flush = time.monotonic()
        self.cancel_seen = Operation.objects.filter(
            pk=self.operation_id, cancel_requested=True
        ).exists()


class _Heartbeat:
    """Touches the operation's heartbeat from a side thread while work runs."""

    def __init__(self, operation_id: int) -> None:
        self.operation_id = operation_id
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def __enter__(self) -> _Heartbeat:
        if settings.QUEUE_BACKEND != "sync":
            self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout=5)

    def _beat(self) -> None:
        try:
            while not self.stop.wait(settings.OPERATION_HEARTBEAT_SECONDS):
                Operation.objects.filter(
                    pk=self.operation_id, status=OperationStatus.RUNNING
                ).update(heartbeat_at=timezone.now())
        except Exception:
            logger.exception("Heartbeat of operation %s stopped", self.operation_id)
        finally:
            connection.close()
