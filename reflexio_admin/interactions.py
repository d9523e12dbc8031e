"""Reading conversations for generation: scopes, windows and turns."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet

from reflexio_admin.llm import Turn
from reflexio_admin.models import Interaction


@dataclass(frozen=True)
class Scope:
    """Which interactions an operation reads."""

    user_id: str | None = None
    source: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    agent_version: str | None = None

    def queryset(self, sources: Sequence[str] = ()) -> QuerySet[Interaction]:
        """Interactions in scope; `sources` is an extractor's list of sources."""
        qs = Interaction.objects.all()
        if self.user_id:
            qs = qs.filter(user_id=self.user_id)
        if self.agent_version:
            qs = qs.filter(agent_version=self.agent_version)
        if self.source:
            qs = qs.filter(source=self.source)
        if sources:
            qs = qs.filter(source__in=list(sources))
        if self.start_time:
            qs = qs.filter(created_at__gte=self.start_time)
        if self.end_time:
            qs = qs.filter(created_at__lte=self.end_time)
        return qs

    def for_user(self, user_id: str) -> Scope:
        return Scope(
            user_id=user_id,
            source=self.source,
            start_time=self.start_time,
            end_time=self.end_time,
            agent_version=self.agent_version,
        )

    def user_ids(self) -> list[str]:
        """Every user with at least one interaction in scope, sorted."""
        if self.user_id:
            return [self.user_id] if self.queryset().exists() else []
        return list(
            self.queryset()
            .order_by("user_id")
            .values_list("user_id", flat=True)
            .distinct()
        )


@dataclass(frozen=True)
class TurnRow:
    """One interaction as the generation code needs it."""

    id: int
    role: str
    content: str
    source: str
    request_id: str

    def turn(self) -> Turn:
        return Turn(role=self.role, content=self.content)


_ROW_FIELDS = ("id", "role", "content", "source", "request__request_id")


def _rows(qs: QuerySet[Interaction]) -> list[TurnRow]:
    return [
        TurnRow(
            id=row[0], role=row[1], content=row[2], source=row[3], request_id=row[4]
        )
        for row in qs.values_list(*_ROW_FIELDS)
    ]


def windows(
    qs: QuerySet[Interaction], batch_size: int | None
) -> Iterator[list[TurnRow]]:
    """Walk interactions oldest first in windows of about `batch_size`.

    A window never ends in the middle of a request: it grows to the end of the
    request it would cut, so that a correction and the answer to it are read
    together. `batch_size` None reads everything at once.
    """
    ordered = qs.order_by("created_at", "id")
    if not batch_size:
        rows = _rows(ordered)
        if rows:
            yield rows
        return
    last: tuple[Any, int] | None = None
    while True:
        page = ordered
        if last is not None:
            created, pk = last
            page = page.filter(created_at__gte=created).exclude(
                created_at=created, id__lte=pk
            )
        window = list(
            page.values_list(*_ROW_FIELDS, "created_at", "request")[:batch_size]
        )
        if not window:
            return
        if len(window) == batch_size:
            tail = ordered.filter(request=window[-1][6]).filter(
                Q(created_at__gt=window[-1][5])
                | Q(created_at=window[-1][5], id__gt=window[-1][0])
            )
            window.extend(tail.values_list(*_ROW_FIELDS, "created_at", "request"))
        last = (window[-1][5], window[-1][0])
        yield [
            TurnRow(id=r[0], role=r[1], content=r[2], source=r[3], request_id=r[4])
            for r in window
        ]
        if len(window) < batch_size:
            return


def latest(qs: QuerySet[Interaction], count: int) -> list[TurnRow]:
    """The newest `count` interactions, oldest first."""
    rows = _rows(qs.order_by("-created_at", "-id")[:count])
    rows.reverse()
    return rows
