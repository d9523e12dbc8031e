"""Starting, cancelling, retrying and watching operations.

Every run of a generation or aggregation is an `Operation` row. Services in
`profiles` and `playbooks` decide what a run means; this module owns the parts
they share: refusing overlapping runs, queueing the job after the row commits,
cancellation, retries and noticing workers that died.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from reflexio_admin import queue
from reflexio_admin.audit import audit_record
from reflexio_admin.models import (
    ACTIVE_STATUSES,
    Operation,
    OperationKind,
    OperationStatus,
    OperationUser,
)

logger = logging.getLogger(__name__)


class OperationError(Exception):
    """An operation could not start or change; the message says why."""

    status_code = 400


class OperationConflict(OperationError):
    status_code = 409


class QueueUnavailableError(OperationError):
    status_code = 503


def scope_key(family: str, user_id: str | None) -> str:
    """Name the scope of a run: a family (e.g. an agent version) and a user."""
    return f"{family}/{user_id or '*'}"


def _overlapping(kind: str, key: str) -> Operation | None:
    family, _, user = key.rpartition("/")
    overlap = Q(scope_key=key) | Q(scope_key=f"{family}/*")
    if user == "*":
        overlap |= Q(scope_key__startswith=f"{family}/")
    return (
        Operation.objects.filter(kind=kind, status__in=ACTIVE_STATUSES)
        .filter(overlap)
        .order_by("id")
        .first()
    )


def _conflict_message(running: Operation) -> str:
    return (
        f"{running.get_kind_display()} #{running.pk} is already "
        f"{running.status} for an overlapping scope "
        f"({_describe_scope(running.params)}). Wait for it to finish or cancel it."
    )


def _describe_scope(params: dict[str, Any]) -> str:
    parts = [f"{name}={value}" for name, value in params.items() if value]
    return ", ".join(parts) or "everything"


def operation_start(
    *,
    kind: OperationKind | str,
    params: dict[str, Any],
    key: str,
    requested_by: Any = None,
    retry_of: Operation | None = None,
    ip_address: str | None = None,
) -> Operation:
    """Create an operation row and queue its job once the row is committed.

    Raises OperationConflict when an active run of the same kind overlaps the
    scope, and QueueUnavailableError when the queue cannot be reached (the row
    is then marked failed, so nothing stays queued).
    """
    _reap_now_and_then()
    create = functools.partial(
        _create,
        kind=kind,
        params=params,
        key=key,
        requested_by=requested_by,
        retry_of=retry_of,
        ip_address=ip_address,
    )
    try:
        operation = create()
    except OperationConflict:
        # The run in the way may be one whose worker died: once it is marked
        # failed, nothing overlaps any more.
        if not _fail_silent_runs():
            raise
        operation = create()
    logger.info("Operation %s (%s) queued", operation.pk, kind)
    in_transaction = transaction.get_connection().in_atomic_block
    if in_transaction and settings.QUEUE_BACKEND != "sync":
        # The worker must find the row, and a rollback must leave no job.
        transaction.on_commit(lambda: _enqueue(operation))
        return operation
    _enqueue(operation)
    operation.refresh_from_db()
    return operation


def _create(
    *,
    kind: OperationKind | str,
    params: dict[str, Any],
    key: str,
    requested_by: Any,
    retry_of: Operation | None,
    ip_address: str | None,
) -> Operation:
    """The operation row and its audit event, unless a run overlaps."""
    user = requested_by if getattr(requested_by, "is_authenticated", False) else None
    with transaction.atomic():
        running = _overlapping(str(kind), key)
        if running is not None:
            raise OperationConflict(_conflict_message(running))
        try:
            with transaction.atomic():
                operation = Operation.objects.create(
                    kind=kind,
                    params=params,
                    scope_key=key,
                    requested_by=user,
                    retry_of=retry_of,
                )
        except IntegrityError:
            running = _overlapping(str(kind), key)
            raise OperationConflict(
                _conflict_message(running) if running else "A run is already active."
            ) from None
        audit_record(
            action="operation_started",
            actor=requested_by,
            scope={"kind": str(kind), **params},
            operation=operation,
            ip_address=ip_address,
        )
    return operation


def _enqueue(operation: Operation) -> None:
    try:
        job_id = queue.enqueue_operation(operation.pk)
    except queue.QueueUnavailable as exc:
        Operation.objects.filter(pk=operation.pk, status=OperationStatus.QUEUED).update(
            status=OperationStatus.FAILED,
            error_message=str(exc),
            finished_at=timezone.now(),
        )
        raise QueueUnavailableError(str(exc)) from exc
    Operation.objects.filter(pk=operation.pk, rq_job_id="").update(rq_job_id=job_id)


def operation_cancel(
    *, operation: Operation, actor: Any = None, ip_address: str | None = None
) -> Operation:
    """Ask a run to stop before its next user; a queued run stops at once."""
    if not operation.is_active:
        raise OperationError(
            f"Operation #{operation.pk} has already ended ({operation.status})."
        )
    with transaction.atomic():
        Operation.objects.filter(pk=operation.pk).update(cancel_requested=True)
        Operation.objects.filter(pk=operation.pk, status=OperationStatus.QUEUED).update(
            status=OperationStatus.CANCELLED, finished_at=timezone.now()
        )
        audit_record(
            action="operation_cancel_requested",
            actor=actor,
            operation=operation,
            ip_address=ip_address,
        )
    operation.refresh_from_db()
    return operation


def operation_retry(
    *, operation: Operation, actor: Any = None, ip_address: str | None = None
) -> Operation:
    """Run the users of a finished run again that did not complete.

    A run that ended normally retries its failed users; a run that failed or
    was cancelled as a whole also picks up the users it never reached. Users
    that completed are never processed twice.
    """
    from reflexio_admin.runner import RETRYABLE_KINDS

    if operation.is_active:
        raise OperationError(f"Operation #{operation.pk} is still {operation.status}.")
    if operation.kind not in RETRYABLE_KINDS:
        raise OperationError(f"{operation.get_kind_display()} cannot be retried.")
    done = set(
        OperationUser.objects.filter(
            operation__in=_retry_chain(operation), state=OperationUser.State.DONE
        ).values_list("user_id", flat=True)
    )
    params = dict(operation.params)
    if operation.status == OperationStatus.COMPLETED:
        failed = set(
            operation.user_results.filter(state=OperationUser.State.FAILED).values_list(
                "user_id", flat=True
            )
        )
        if not failed:
            raise OperationError(f"Operation #{operation.pk} has no failed users.")
        params["only_user_ids"] = sorted(failed - done)
    else:
        params["exclude_user_ids"] = sorted(done)
    return operation_start(
        kind=operation.kind,
        params=params,
        key=operation.scope_key,
        requested_by=actor,
        retry_of=operation,
        ip_address=ip_address,
    )


def _retry_chain(operation: Operation) -> list[Operation]:
    chain = [operation]
    while chain[-1].retry_of_id is not None and len(chain) < 50:
        chain.append(chain[-1].retry_of)
    return chain


# When this process last looked for lost jobs on its own (time.monotonic()).
_last_reap = -math.inf


def _reap_now_and_then() -> None:
    """`operations_reap_stale`, at most every OPERATION_REAP_INTERVAL_SECONDS.

    Starts call this: lost jobs are rare, and looking for them costs two
    queries and a Redis round trip, too much to pay on every publish that
    queues extraction. Concurrent threads may both reap; that is harmless.
    """
    global _last_reap
    now = time.monotonic()
    if now - _last_reap < settings.OPERATION_REAP_INTERVAL_SECONDS:
        return
    _last_reap = now
    operations_reap_stale()


def operations_reap_stale() -> int:
    """Repair operations whose job was lost; return how many were repaired.

    A running operation whose worker stopped sending heartbeats is marked
    failed (it can be retried). A queued operation whose job is no longer
    in the queue (Redis restarted without persistence, or the web process
    that held an embedded job stopped) is queued again.
    """
    return _fail_silent_runs() + _requeue_lost_jobs()


def _requeue_lost_jobs() -> int:
    limit = timezone.now() - timedelta(seconds=settings.OPERATION_QUEUED_GRACE_SECONDS)
    waiting = list(
        Operation.objects.filter(status=OperationStatus.QUEUED, created_at__lt=limit)
        .order_by("id")
        .values_list("pk", flat=True)[:100]
    )
    # One round trip for all of them: every operation start runs this, and a
    # backlog of queued runs is normal while workers are busy.
    lost = queue.missing_jobs(waiting) if waiting else None
    requeued = 0
    for operation_id in sorted(lost or ()):
        try:
            queue.enqueue_operation(operation_id)
        except queue.QueueUnavailable:
            return requeued
        logger.warning(
            "Queued operation %s had lost its job; queued it again", operation_id
        )
        requeued += 1
    return requeued


def _fail_silent_runs() -> int:
    limit = timezone.now() - timedelta(seconds=settings.OPERATION_STALE_SECONDS)
    stale = Operation.objects.filter(
        status=OperationStatus.RUNNING, heartbeat_at__lt=limit
    )
    count = stale.update(
        status=OperationStatus.FAILED,
        finished_at=timezone.now(),
        error_message=(
            "The worker running this operation stopped responding (no heartbeat "
            f"for {int(settings.OPERATION_STALE_SECONDS)} s). Work already written "
            "is kept; retry to finish the remaining users."
        ),
    )
    if count:
        logger.warning("Marked %s operations failed after a lost heartbeat", count)
    return count
