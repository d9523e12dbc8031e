"""Storing what agents publish: one request and its interactions at a time,
or a JSONL file of publish payloads for bulk loads.

After a publish commits, automatic extraction is queued for the user once
enough new interactions have arrived (see `profiles.services` and
`playbooks.services`). A failure there never fails the publish: the
interactions are stored, and the caller is told in `warnings`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone
from pydantic import TypeAdapter, ValidationError

from playbooks import services as playbook_services
from profiles import services as profile_services
from reflexio_admin import planning
from reflexio_admin.api.schemas import (
    MAX_INTERACTIONS_PER_PUBLISH,
    InteractionData,
    PublishUserInteractionRequest,
    describe_errors,
    nul_path,
)
from reflexio_admin.models import (
    DEFAULT_AGENT_VERSION,
    FINAL_STATUSES,
    GenerationSettings,
    Interaction,
    Operation,
    OperationKind,
    Request,
    new_request_id,
)
from reflexio_admin.operations import OperationError

logger = logging.getLogger(__name__)

MAX_WARNINGS = 20
MAX_REPORTED_BAD_LINES = 100
_INTERACTIONS = TypeAdapter(list[InteractionData])
_PROFILE_KINDS = {OperationKind.AUTO_PROFILES, OperationKind.MANUAL_PROFILES}


class IngestError(OperationError):
    """A publish payload that cannot be stored; the message says why."""

    status_code = 400


class DuplicateRequestError(IngestError):
    status_code = 409


@dataclass(frozen=True)
class PublishResult:
    request_id: str
    stored: int
    skipped: int
    warnings: list[str]
    operations: list[Operation]


@dataclass(frozen=True)
class ExtractionOutcome:
    """What the automatic extraction queued by a publish produced."""

    finished: bool
    profiles_added: int
    playbooks_added: int


@dataclass
class ImportResult:
    lines: int = 0
    requests: int = 0
    interactions: int = 0
    skipped_empty: int = 0
    bad_count: int = 0
    bad_lines: list[tuple[int, str]] = field(default_factory=list)
    operations: int = 0

    def bad(self, number: int, reason: str) -> None:
        self.bad_count += 1
        if len(self.bad_lines) < MAX_REPORTED_BAD_LINES:
            self.bad_lines.append((number, reason))


@dataclass
class _Prepared:
    request: Request
    interactions: list[Interaction]
    skipped: int
    warnings: list[str]


def _field_limit(model: type[Any], name: str) -> int:
    return int(model._meta.get_field(name).max_length)


def _required(name: str, value: str | None, model: type[Any] = Request) -> str:
    value = (value or "").strip()
    if not value:
        raise IngestError(f"{name}: must not be empty.")
    return _limited(name, value, model)


def _limited(name: str, value: str, model: type[Any] = Request) -> str:
    limit = _field_limit(model, name)
    if len(value) > limit:
        raise IngestError(f"{name}: must be at most {limit} characters.")
    if "\x00" in value:
        raise IngestError(f"{name}: must not contain NUL characters.")
    return value


def _capped(warnings: list[str]) -> list[str]:
    if len(warnings) <= MAX_WARNINGS:
        return warnings
    extra = len(warnings) - MAX_WARNINGS
    return [*warnings[:MAX_WARNINGS], f"...and {extra} more warning(s)"]


def _as_interactions(
    interactions: Sequence[InteractionData | Mapping[str, Any]],
) -> list[InteractionData]:
    if all(isinstance(item, InteractionData) for item in interactions):
        return list(interactions)  # type: ignore[arg-type]
    raw = [
        item.model_dump() if isinstance(item, InteractionData) else item
        for item in interactions
    ]
    try:
        return _INTERACTIONS.validate_python(raw)
    except ValidationError as exc:
        message = describe_errors(exc, prefix="interaction_data_list")
        raise IngestError(message) from None


def _tools(item: InteractionData) -> list[dict[str, Any]]:
    return [
        {
            "tool_name": tool.tool_name,
            "tool_data": tool.tool_data,
            **({"status": tool.status} if tool.status else {}),
        }
        for tool in item.tools_used
    ]


def _prepare(
    *,
    user_id: str,
    interactions: Sequence[InteractionData | Mapping[str, Any]],
    source: str,
    agent_version: str,
    session_id: str | None,
    request_id: str | None,
) -> _Prepared:
    """Validate one publish and build its unsaved rows."""
    user_id = _required("user_id", user_id)
    session_id = _required("session_id", session_id)
    source = _limited("source", (source or "").strip())
    agent_version = _limited(
        "agent_version", (agent_version or "").strip() or DEFAULT_AGENT_VERSION
    )
    if request_id is not None:
        request_id = _required("request_id", request_id)
    items = _as_interactions(interactions)
    if not items:
        raise IngestError("interaction_data_list: at least one interaction is needed.")
    if len(items) > MAX_INTERACTIONS_PER_PUBLISH:
        raise IngestError(
            f"interaction_data_list: at most {MAX_INTERACTIONS_PER_PUBLISH} "
            f"interactions per publish, got {len(items)}; split them up."
        )

    now = timezone.now()
    role_limit = _field_limit(Interaction, "role")
    warnings: list[str] = []
    skipped: list[int] = []
    rows: list[Interaction] = []
    for index, item in enumerate(items):
        if unknown := item.unknown_fields():
            warnings.append(
                f"interaction_data_list[{index}]: ignored unrecognised field(s) "
                f"{', '.join(name[:64] for name in unknown[:5])}"
            )
        stored = item.model_dump(include={"role", "content", "tools_used"})
        if where := nul_path(stored, f"interaction_data_list[{index}]"):
            raise IngestError(f"{where}: must not contain NUL characters.")
        if item.is_empty():
            skipped.append(index)
            continue
        if dropped := item.dropped_fields():
            warnings.append(
                f"interaction_data_list[{index}]: {', '.join(dropped)} not stored "
                "by this server"
            )
        role = item.role.strip() or "User"
        if len(role) > role_limit:
            warnings.append(
                f"interaction_data_list[{index}]: role shortened to "
                f"{role_limit} characters"
            )
            role = role[:role_limit]
        created = (
            datetime.fromtimestamp(item.created_at, UTC)
            if item.created_at is not None
            else now
        )
        rows.append(
            Interaction(
                user_id=user_id,
                source=source,
                agent_version=agent_version,
                role=role,
                content=item.content,
                tools_used=_tools(item),
                created_at=created,
            )
        )

    if not rows:
        raise IngestError(
            "interaction_data_list: every interaction is empty; at least one must "
            "have content or tools_used."
        )
    if skipped:
        shown = ", ".join(str(index) for index in skipped[:10])
        more = f", +{len(skipped) - 10} more" if len(skipped) > 10 else ""
        warnings.append(
            f"skipped {len(skipped)} empty interaction(s) that carried no content, "
            f"at index(es) {shown}{more}"
        )
    request = Request(
        request_id=request_id or new_request_id(),
        user_id=user_id,
        source=source,
        agent_version=agent_version,
        session_id=session_id,
        created_at=min(row.created_at for row in rows),
    )
    return _Prepared(request, rows, len(skipped), warnings)


def _attach(prepared: _Prepared) -> list[Interaction]:
    for row in prepared.interactions:
        row.request = prepared.request
    return prepared.interactions


def publish_interactions(
    *,
    user_id: str,
    interactions: Sequence[InteractionData | Mapping[str, Any]],
    source: str = "",
    agent_version: str = "",
    session_id: str | None,
    request_id: str | None = None,
    actor: Any = None,
    force_extraction: bool = False,
) -> PublishResult:
    """Store one request and its interactions, then queue automatic extraction.

    The rows are written in one transaction. Extraction is queued after that
    commits; if queueing fails the publish still succeeds and the returned
    `warnings` say what went wrong. `force_extraction` queues extraction as
    soon as there is one new interaction instead of `batch_interval`.
    Raises IngestError (400) for an invalid payload and DuplicateRequestError
    (409) when `request_id` is already stored.
    """
    prepared = _prepare(
        user_id=user_id,
        interactions=interactions,
        source=source,
        agent_version=agent_version,
        session_id=session_id,
        request_id=request_id,
    )
    request = prepared.request
    try:
        # The unique request_id refuses a duplicate; no query looks first.
        with transaction.atomic():
            request.save()
            Interaction.objects.bulk_create(_attach(prepared), batch_size=1000)
    except IntegrityError:
        raise DuplicateRequestError(_duplicate(request.request_id)) from None
    logger.info(
        "Stored request %s with %s interactions (publisher %s)",
        request.pk,
        len(prepared.interactions),
        actor.get_username() if getattr(actor, "is_authenticated", False) else "-",
    )

    operations, queue_warnings = _start_extraction(
        user_id=request.user_id,
        agent_version=request.agent_version,
        force=force_extraction,
    )
    return PublishResult(
        request_id=request.request_id,
        stored=len(prepared.interactions),
        skipped=prepared.skipped,
        warnings=_capped(prepared.warnings + queue_warnings),
        operations=operations,
    )


def _duplicate(request_id: str) -> str:
    return (
        f"request_id {request_id!r} is already stored; publish new turns under a "
        "new request_id (or leave it out to get one)."
    )


def _start_extraction(
    *, user_id: str, agent_version: str, force: bool
) -> tuple[list[Operation], list[str]]:
    """Queue automatic profile and playbook extraction for one user.

    Whether each is due is asked in one query, outside any transaction. Each
    start that is due runs in its own transaction (a savepoint inside an outer
    one). Outside an outer transaction that also makes `operation_start`
    enqueue on commit, so a job queue that is down raises here, when the block
    closes, rather than inside the service. Any failure becomes a warning: the
    interactions are already committed and must stay reported as stored.
    """
    interval = 1 if force else max(1, GenerationSettings.load().batch_interval)
    starts = (
        (
            "profile",
            profile_services.auto_extraction_check(
                user_id=user_id, batch_interval=interval
            ),
            lambda: profile_services.start_auto_extraction(user_id=user_id),
        ),
        (
            "playbook",
            playbook_services.auto_extraction_check(
                user_id=user_id, agent_version=agent_version, batch_interval=interval
            ),
            lambda: playbook_services.start_auto_extraction(
                user_id=user_id, agent_version=agent_version
            ),
        ),
    )
    operations: list[Operation] = []
    warnings: list[str] = []
    try:
        # A savepoint only inside an outer transaction, which a failed query
        # would otherwise spoil; on its own the query needs no transaction.
        with transaction.atomic() if _in_transaction() else nullcontext():
            due = planning.extractions_due([check for _, check, _ in starts])
    except Exception as exc:
        # Deliberately broad, like the starts below: the publish succeeded.
        logger.warning("Could not tell whether extraction is due", exc_info=True)
        return [], [_not_queued(name, exc) for name, _, _ in starts]
    for (name, _, start), is_due in zip(starts, due, strict=True):
        if not is_due:
            continue
        try:
            with transaction.atomic():
                operation = start()
        except Exception as exc:
            # Deliberately broad: whatever broke (queue, database, a bug), the
            # publish itself succeeded and must say so.
            logger.warning(
                "Automatic %s extraction was not queued", name, exc_info=True
            )
            warnings.append(_not_queued(name, exc))
            continue
        if operation is not None:
            operations.append(operation)
    return operations, warnings


def _not_queued(name: str, exc: Exception) -> str:
    reason = str(exc) if isinstance(exc, OperationError) else type(exc).__name__
    return (
        f"The interactions are stored, but automatic {name} extraction "
        f"could not be queued ({reason}). It will be retried on the next "
        "publish; a manual or rerun generation also picks them up."
    )


def _in_transaction() -> bool:
    return transaction.get_connection().in_atomic_block


def wait_for_extraction(
    operations: Iterable[Operation], *, timeout: float, poll: float = 0.2
) -> ExtractionOutcome:
    """Wait until the given extraction runs end, or `timeout` seconds pass."""
    ids = [operation.pk for operation in operations]
    deadline = time.monotonic() + timeout
    while True:
        rows = list(
            Operation.objects.filter(pk__in=ids).values_list(
                "kind", "status", "items_produced"
            )
        )
        finished = all(status in FINAL_STATUSES for _, status, _ in rows)
        if finished or time.monotonic() >= deadline:
            break
        time.sleep(poll)
    profiles = sum(items for kind, _, items in rows if kind in _PROFILE_KINDS)
    playbooks = sum(items for kind, _, items in rows if kind not in _PROFILE_KINDS)
    return ExtractionOutcome(
        finished=finished, profiles_added=profiles, playbooks_added=playbooks
    )


# Bulk loads


@contextmanager
def _lines(source: str | Path | IO[str] | IO[bytes]) -> Iterator[Iterable[Any]]:
    if isinstance(source, str | Path):
        with open(source, "rb") as handle:
            yield handle
    else:
        yield source


def _decode(line: str | bytes) -> str:
    return line.decode("utf-8") if isinstance(line, bytes) else line


def import_jsonl(
    source: str | Path | IO[str] | IO[bytes],
    *,
    batch: int = 1000,
    auto_extract: bool = False,
) -> ImportResult:
    """Load a JSONL file in which each line is one publish payload.

    Lines are read one at a time and validated like a publish; a bad line is
    reported with its number and reason and the others still load. Requests
    are written `batch` lines per transaction. Automatic extraction is only
    queued (once per user and agent version, at the end) with `auto_extract`.
    """
    if batch < 1:
        raise ValueError("batch must be at least 1")
    result = ImportResult()
    pending: list[tuple[int, _Prepared]] = []
    scopes: set[tuple[str, str]] = set()
    with _lines(source) as lines:
        for number, raw in enumerate(lines, start=1):
            try:
                line = _decode(raw)
            except UnicodeDecodeError:
                result.lines += 1
                result.bad(number, "not valid UTF-8")
                continue
            if not line.strip():
                continue
            result.lines += 1
            prepared = _parse_line(number, line, result)
            if prepared is None:
                continue
            pending.append((number, prepared))
            if len(pending) >= batch:
                _write_batch(pending, result, scopes)
                pending = []
    _write_batch(pending, result, scopes)

    if auto_extract:
        for user_id, agent_version in sorted(scopes):
            operations, _ = _start_extraction(
                user_id=user_id, agent_version=agent_version, force=False
            )
            result.operations += len(operations)
    logger.info(
        "Imported %s requests with %s interactions; %s bad lines",
        result.requests,
        result.interactions,
        result.bad_count,
    )
    return result


def _parse_line(number: int, line: str, result: ImportResult) -> _Prepared | None:
    try:
        data = json.loads(line)
        where = nul_path(data)
    except ValueError as exc:
        result.bad(number, f"not valid JSON: {exc}")
        return None
    except RecursionError:
        result.bad(number, "nested too deeply")
        return None
    if where:
        result.bad(number, f"{where}: must not contain NUL characters")
        return None
    try:
        payload = PublishUserInteractionRequest.model_validate(data)
        return _prepare(
            user_id=payload.user_id,
            interactions=payload.interaction_data_list,
            source=payload.source,
            agent_version=payload.agent_version,
            session_id=payload.session_id,
            request_id=payload.request_id,
        )
    except ValidationError as exc:
        result.bad(number, describe_errors(exc))
    except IngestError as exc:
        result.bad(number, str(exc))
    return None


def _write_batch(
    pending: list[tuple[int, _Prepared]],
    result: ImportResult,
    scopes: set[tuple[str, str]],
) -> None:
    if not pending:
        return
    ids = [prepared.request.request_id for _, prepared in pending]
    taken = set(
        Request.objects.filter(request_id__in=ids).values_list("request_id", flat=True)
    )
    seen: dict[str, int] = {}
    accepted: list[tuple[int, _Prepared]] = []
    for number, prepared in pending:
        request_id = prepared.request.request_id
        if request_id in taken:
            result.bad(number, f"request_id {request_id!r} is already stored")
        elif request_id in seen:
            result.bad(
                number, f"request_id {request_id!r} repeats line {seen[request_id]}"
            )
        else:
            seen[request_id] = number
            accepted.append((number, prepared))
    try:
        with transaction.atomic():
            Request.objects.bulk_create([p.request for _, p in accepted])
            rows = [row for _, p in accepted for row in _attach(p)]
            Interaction.objects.bulk_create(rows, batch_size=1000)
    except DatabaseError as exc:
        logger.warning(
            "An import batch of %s lines failed (%s)", len(accepted), type(exc).__name__
        )
        for number, _ in accepted:
            result.bad(number, f"not stored: the batch failed ({type(exc).__name__})")
        return
    result.requests += len(accepted)
    result.interactions += len(rows)
    result.skipped_empty += sum(p.skipped for _, p in accepted)
    scopes.update((p.request.user_id, p.request.agent_version) for _, p in accepted)
