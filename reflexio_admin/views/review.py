"""What the profile and playbook review pages share.

Rows with their provenance (the interactions an item came from, the
operation that made it), decisions read from the form, and the result of
the last batch of decisions. The domain work is in `reflexio_admin.review`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.http import QueryDict
from django.urls import reverse
from django.utils.http import urlencode

from reflexio_admin import review
from reflexio_admin.models import AuditEvent, Interaction, Operation
from reflexio_admin.pairing import ComparedItem, Label, ReviewItem

logger = logging.getLogger(__name__)

DECISION_PREFIX = "decision-"
PENDING_CHOICES = ((review.ACCEPT, "Accept"), (review.REJECT, "Reject"))
REMOVAL_CHOICES = ((review.ARCHIVE, "Archive"), (review.KEEP, "Keep"))
# Provenance shows at most this many source turns per item.
SOURCES_SHOWN = 20


@dataclass(frozen=True)
class SideView:
    """One side of a row: the item and where it came from."""

    item: ReviewItem
    sources: list[Interaction]
    source_count: int
    operation: Operation | None
    conversation_url: str

    @property
    def obj(self) -> Any:
        return self.item.obj

    @property
    def operation_params(self) -> str:
        if self.operation is None:
            return ""
        params = self.operation.params or {}
        return ", ".join(f"{name}={value}" for name, value in sorted(params.items()))


@dataclass(frozen=True)
class RowView:
    row: ComparedItem
    pending: SideView | None
    current: SideView | None
    field: str
    choices: tuple[tuple[str, str], ...]
    chosen: str

    @property
    def label(self) -> str:
        return str(self.row.label)

    @property
    def similarity_percent(self) -> int | None:
        if self.row.similarity is None:
            return None
        return round(self.row.similarity * 100)


@dataclass(frozen=True)
class ResultLine:
    decision: str
    label: str
    content: str
    status: str
    paired_content: str


def decisions_from(data: QueryDict) -> dict[int, str]:
    """The decisions a review form posted: `decision-<pk>` = a choice."""
    chosen: dict[int, str] = {}
    for name, value in data.items():
        if not name.startswith(DECISION_PREFIX) or not value:
            continue
        key = name.removeprefix(DECISION_PREFIX)
        if key.isdigit():
            chosen[int(key)] = value
    return chosen


def _conversation_url(item: ReviewItem, sources: list[Interaction]) -> str:
    query = {"user_id": item.obj.user_id}
    if sources:
        query["session_id"] = sources[0].request.session_id
    return f"{reverse('console:interaction_list')}?{urlencode(query)}"


def _side(item: ReviewItem | None, turns: dict[int, Interaction]) -> SideView | None:
    if item is None:
        return None
    ids = list(item.obj.source_interaction_ids or [])
    sources = [turns[pk] for pk in ids[:SOURCES_SHOWN] if pk in turns]
    return SideView(
        item=item,
        sources=sources,
        source_count=len(ids),
        operation=item.obj.operation,
        conversation_url=_conversation_url(item, sources),
    )


def row_views(
    rows: list[ComparedItem], chosen: dict[int, str] | None = None
) -> list[RowView]:
    """Rows ready for `_review_table.html`; one query for every source turn."""
    chosen = chosen or {}
    wanted: set[int] = set()
    for row in rows:
        for item in (row.pending, row.current):
            if item is not None:
                wanted.update((item.obj.source_interaction_ids or [])[:SOURCES_SHOWN])
    turns = {
        turn.pk: turn
        for turn in Interaction.objects.filter(pk__in=sorted(wanted)).select_related(
            "request"
        )
    }
    views = []
    for row in rows:
        decided = row.pending or row.current
        assert decided is not None
        views.append(
            RowView(
                row=row,
                pending=_side(row.pending, turns),
                current=_side(row.current, turns),
                field=f"{DECISION_PREFIX}{decided.id}",
                choices=PENDING_CHOICES if row.pending else REMOVAL_CHOICES,
                chosen=chosen.get(decided.id, ""),
            )
        )
    return views


def split_rows(views: list[RowView]) -> tuple[list[RowView], list[RowView]]:
    """Changes first, unchanged rows apart (the page folds them away)."""
    changes = [v for v in views if v.row.label != Label.UNCHANGED]
    unchanged = [v for v in views if v.row.label == Label.UNCHANGED]
    return changes, unchanged


def result_lines(event_id: str | None, kind: str) -> list[ResultLine]:
    """What the batch of decisions recorded in audit event `event_id` did."""
    if not event_id or not event_id.isdigit():
        return []
    event = AuditEvent.objects.filter(pk=int(event_id), action=f"review_{kind}").first()
    if event is None or not isinstance(event.after, dict):
        return []
    decisions = event.after.get("decisions", [])
    model = review.family_of(kind).item_model
    now = dict(
        model._default_manager.filter(
            pk__in=[d.get("pk") for d in decisions]
        ).values_list("pk", "status")
    )
    return [
        ResultLine(
            decision=str(d.get("decision", "")),
            label=str(d.get("label", "")),
            content=str(d.get("content", "")),
            status=now.get(d.get("pk"), "discarded"),
            paired_content=str(d.get("paired_content", "")),
        )
        for d in decisions
    ]
