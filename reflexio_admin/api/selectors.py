"""Reads behind the API: interactions, sessions, profiles, playbooks, runs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from django.db.models import Max, Prefetch, Q, QuerySet

from playbooks.models import AgentPlaybook, Approval, UserPlaybook
from profiles.models import UserProfile
from reflexio_admin.api import schemas
from reflexio_admin.models import Interaction, Operation, Request
from reflexio_admin.status import Status


def statuses(
    wire: Sequence[str | None] | None, default: Sequence[str] | None
) -> list[str] | None:
    """Status names from a wire `status_filter`, where null means CURRENT.

    An absent or empty filter gives `default` (None: every status).
    """
    if not wire:
        return list(default) if default is not None else None
    return sorted({value or Status.CURRENT for value in wire})


def _window(
    qs: QuerySet[Any],
    field: str,
    start: datetime | None,
    end: datetime | None,
) -> QuerySet[Any]:
    if start:
        qs = qs.filter(**{f"{field}__gte": start})
    if end:
        qs = qs.filter(**{f"{field}__lte": end})
    return qs


def from_unix(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def interactions(payload: schemas.GetInteractionsRequest) -> list[Interaction]:
    """A user's most recent interactions, newest first."""
    qs = Interaction.objects.filter(user_id=payload.user_id).select_related("request")
    qs = _window(qs, "created_at", payload.start_time, payload.end_time)
    return list(qs.order_by("-created_at", "-id")[: payload.top_k])


def sessions(
    payload: schemas.GetRequestsRequest,
) -> tuple[list[tuple[str, list[Request]]], bool]:
    """Sessions with their requests and interactions, most recent first.

    Pages by session: each returned session carries all its matching requests.
    """
    qs = Request.objects.all()
    for name in ("user_id", "request_id", "session_id", "source"):
        if value := getattr(payload, name):
            qs = qs.filter(**{name: value})
    qs = _window(qs, "created_at", payload.start_time, payload.end_time)
    page = list(
        qs.values("session_id")
        .annotate(last=Max("created_at"))
        .order_by("-last", "session_id")[
            payload.offset : payload.offset + payload.top_k + 1
        ]
    )
    has_more = len(page) > payload.top_k
    order = [row["session_id"] for row in page[: payload.top_k]]
    requests = (
        qs.filter(session_id__in=order)
        .order_by("created_at", "id")
        .prefetch_related(
            Prefetch("interactions", queryset=Interaction.objects.order_by("id"))
        )
    )
    grouped: dict[str, list[Request]] = {session: [] for session in order}
    for request in requests:
        grouped[request.session_id].append(request)
    return list(grouped.items()), has_more


def profiles(
    *,
    user_id: str | None,
    status_names: list[str] | None,
    limit: int,
    profile_id: str | None = None,
    query: str | None = None,
    source: str | None = None,
    time_to_live: str | None = None,
    time_field: str = "created_at",
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[UserProfile]:
    qs = UserProfile.objects.all()
    if user_id:
        qs = qs.filter(user_id=user_id)
    if status_names is not None:
        qs = qs.filter(status__in=status_names)
    if profile_id:
        qs = qs.filter(profile_id=profile_id)
    if query:
        qs = qs.filter(content__icontains=query)
    if source:
        qs = qs.filter(source=source)
    if time_to_live:
        qs = qs.filter(time_to_live=time_to_live)
    qs = _window(qs, time_field, start, end)
    return list(qs.order_by("-id")[:limit])


def user_playbooks(payload: schemas.GetUserPlaybooksRequest) -> list[UserPlaybook]:
    qs = UserPlaybook.objects.filter(
        status__in=statuses(payload.status_filter, [Status.CURRENT])
    )
    for name in ("user_id", "request_id", "playbook_name", "agent_version"):
        if value := getattr(payload, name):
            qs = qs.filter(**{name: value})
    if payload.user_playbook_id:
        qs = qs.filter(pk=payload.user_playbook_id)
    if payload.query:
        qs = qs.filter(
            Q(content__icontains=payload.query) | Q(trigger__icontains=payload.query)
        )
    qs = _window(qs, "created_at", payload.start_time, payload.end_time)
    return list(qs.order_by("-id")[: payload.limit])


def agent_playbooks(payload: schemas.GetAgentPlaybooksRequest) -> list[AgentPlaybook]:
    # Agent playbooks are not versioned as pending/current/archived: every
    # one is current, so a filter without CURRENT matches none.
    wanted = statuses(payload.status_filter, [Status.CURRENT])
    if Status.CURRENT not in (wanted or []):
        return []
    qs = AgentPlaybook.objects.filter(
        approval=payload.playbook_status_filter or Approval.APPROVED
    )
    for name in ("playbook_name", "agent_version"):
        if value := getattr(payload, name):
            qs = qs.filter(**{name: value})
    if payload.agent_playbook_id:
        qs = qs.filter(pk=payload.agent_playbook_id)
    if payload.query:
        qs = qs.filter(
            Q(content__icontains=payload.query) | Q(trigger__icontains=payload.query)
        )
    qs = _window(qs, "created_at", payload.start_time, payload.end_time)
    return list(qs.order_by("-id")[: payload.limit])


def latest_operation(kinds: Sequence[str]) -> Operation | None:
    return Operation.objects.filter(kind__in=kinds).order_by("-id").first()
