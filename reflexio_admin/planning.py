"""Helpers shared by the profile and playbook plans and services."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Model

from reflexio_admin.interactions import Scope
from reflexio_admin.llm import Usage
from reflexio_admin.models import (
    ACTIVE_STATUSES,
    ExtractionCursor,
    GenerationSettings,
    Interaction,
    Operation,
)
from reflexio_admin.operations import OperationError
from reflexio_admin.runner import UserOutcome


@dataclass
class Written:
    """What one user's processing produced and spent."""

    items: int = 0
    usage: Usage = field(default_factory=Usage)
    calls: int = 0

    def spend(self, usage: Usage) -> None:
        self.usage = self.usage + usage
        self.calls += 1

    def outcome(self) -> UserOutcome:
        return UserOutcome(items=self.items, usage=self.usage, llm_calls=self.calls)


def params(**values: Any) -> dict[str, Any]:
    """Operation parameters as stored: set values only, times as ISO text."""
    return {
        name: value.isoformat() if isinstance(value, datetime) else value
        for name, value in values.items()
        if value not in (None, "", [])
    }


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def check_window(start_time: datetime | None, end_time: datetime | None) -> None:
    if start_time and end_time and end_time <= start_time:
        raise OperationError("end_time must be after start_time.")


def require_interactions(scope: Scope) -> None:
    if scope.queryset().exists():
        return
    parts = [
        f"{name}={value}"
        for name, value in (
            ("user_id", scope.user_id),
            ("agent_version", scope.agent_version),
            ("source", scope.source),
            ("start_time", scope.start_time),
            ("end_time", scope.end_time),
        )
        if value
    ]
    where = f" for {', '.join(parts)}" if parts else ""
    raise OperationError(
        f"No interactions found{where}; there is nothing to generate from."
    )


@dataclass(frozen=True)
class DueCheck:
    """One scope whose automatic extraction may be due.

    `interactions` names the scope's interactions by equal columns (e.g.
    `{"user_id": ...}`); `cursor_key` is its extraction cursor, and `kind`
    and `key` name the run that would extract it.
    """

    interactions: Mapping[str, str]
    cursor_key: str
    batch_interval: int
    kind: str
    key: str


def extractions_due(checks: Sequence[DueCheck]) -> list[bool]:
    """Whether each check's extraction should be queued, all in one query.

    A check is due when `batch_interval` interactions of its scope arrived
    after the scope's extraction cursor and no run of its `kind` is already
    active for its `key`. Every publish asks this for profiles and playbooks
    alike, so both answers come back in one round trip.
    """
    if not checks:
        return []
    selects = []
    params: list[Any] = []
    for check in checks:
        columns = tuple(sorted(check.interactions))
        selects.append(f"EXISTS ({_due_sql(columns)})")
        params += [check.interactions[column] for column in columns]
        params += [check.cursor_key, check.kind, check.key, *ACTIVE_STATUSES]
        params.append(max(0, check.batch_interval - 1))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(selects)}", params)
        row = cursor.fetchone()
    return [bool(value) for value in row]


@functools.cache
def _due_sql(columns: tuple[str, ...]) -> str:
    """The statement of one due check, for interactions filtered on `columns`.

    Written out once per process rather than built by the ORM each time: every
    publish asks it, and building the queryset cost more than running it. The
    newest interactions past the cursor are read from the `(user_id, ...)`
    indexes of the interaction table; `OFFSET` skips `batch_interval - 1` of
    them.
    """
    quote = connection.ops.quote_name

    def column(model: type[Model], name: str) -> str:
        return quote(model._meta.get_field(name).column)

    def table(model: type[Model]) -> str:
        return quote(model._meta.db_table)

    scope = " AND ".join(f"i.{column(Interaction, name)} = %s" for name in columns)
    statuses = ", ".join("%s" for _ in ACTIVE_STATUSES)
    return (
        f"SELECT 1 FROM {table(Interaction)} i WHERE {scope} "
        f"AND i.{column(Interaction, 'id')} > COALESCE(("
        f"SELECT c.{column(ExtractionCursor, 'last_interaction_id')} "
        f"FROM {table(ExtractionCursor)} c "
        f"WHERE c.{column(ExtractionCursor, 'scope_key')} = %s), 0) "
        f"AND NOT EXISTS (SELECT 1 FROM {table(Operation)} o "
        f"WHERE o.{column(Operation, 'kind')} = %s "
        f"AND o.{column(Operation, 'scope_key')} = %s "
        f"AND o.{column(Operation, 'status')} IN ({statuses})) "
        "LIMIT 1 OFFSET %s"
    )


def batch_size(extractor: Any, config: GenerationSettings) -> int | None:
    return extractor.batch_size or config.batch_size


def choose_extractors[E: Model](
    model: type[E], names: Sequence[str] | None, label: str
) -> list[E]:
    """Enabled extractors, limited to `names`; unknown names are an error."""
    enabled = list(model._default_manager.filter(enabled=True))
    if not names:
        return enabled
    known = {extractor.name: extractor for extractor in enabled}  # type: ignore[attr-defined]
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise OperationError(
            f"Unknown or disabled {label}(s): {', '.join(unknown)}. "
            f"Available: {', '.join(sorted(known)) or 'none'}."
        )
    return [known[name] for name in names]


def manual_extractors[E: Model](extractors: list[E], label: str) -> list[E]:
    """The extractors that may run manually, or an error that says why none can."""
    config = GenerationSettings.load()
    if not any(batch_size(e, config) for e in extractors):
        raise OperationError(
            "batch_size is not configured. Manual generation reads the latest "
            "batch_size interactions; set it in Settings (or on the extractor)."
        )
    allowed = [
        e
        for e in extractors
        if e.allow_manual_trigger and batch_size(e, config)  # type: ignore[attr-defined]
    ]
    if not allowed:
        names = ", ".join(e.name for e in extractors) or "none"  # type: ignore[attr-defined]
        raise OperationError(
            f"No {label} in scope has allow_manual_trigger enabled ({names}). "
            "Enable it in Settings to run manual generation."
        )
    return allowed
