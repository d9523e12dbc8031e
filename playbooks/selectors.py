"""Reads of playbooks for the console: lists, previews and aggregation results.

Lists never load the embedding column: it is large and no page shows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from playbooks.aggregation import aggregation_blocker
from playbooks.models import (
    AgentPlaybook,
    Approval,
    PlaybookExtractor,
    PlaybookGeneration,
    UserPlaybook,
)
from reflexio_admin.models import DEFAULT_AGENT_VERSION, Operation
from reflexio_admin.status import Status

SOURCES_SHOWN = 10
CLUSTER_MEMBERS_SHOWN = 20


def user_playbooks(
    *,
    agent_version: str | None = None,
    playbook_name: str | None = None,
    user_id: str | None = None,
    text: str | None = None,
) -> QuerySet[UserPlaybook]:
    """User playbooks of every status matching the filters."""
    qs = UserPlaybook.objects.defer("embedding")
    if agent_version:
        qs = qs.filter(agent_version=agent_version)
    if playbook_name:
        qs = qs.filter(playbook_name=playbook_name)
    if user_id:
        qs = qs.filter(user_id=user_id)
    if text:
        qs = qs.filter(Q(content__icontains=text) | Q(trigger__icontains=text))
    return qs


def user_playbooks_by_status(
    **filters: str | None,
) -> dict[str, QuerySet[UserPlaybook]]:
    base = user_playbooks(**filters)
    return {status: base.filter(status=status) for status in Status.values}


def agent_playbooks(
    *,
    agent_version: str | None = None,
    playbook_name: str | None = None,
    text: str | None = None,
) -> QuerySet[AgentPlaybook]:
    """Agent playbooks with their reviewer.

    Their sources are not joined in: a card loads them when it is opened
    (`agent_playbook_sources`), so a page of cards costs no more than its rows.
    """
    qs = AgentPlaybook.objects.defer("embedding").select_related("reviewed_by")
    if agent_version:
        qs = qs.filter(agent_version=agent_version)
    if playbook_name:
        qs = qs.filter(playbook_name=playbook_name)
    if text:
        qs = qs.filter(Q(content__icontains=text) | Q(trigger__icontains=text))
    return qs


def agent_playbooks_by_approval(
    **filters: str | None,
) -> dict[str, QuerySet[AgentPlaybook]]:
    base = agent_playbooks(**filters).select_related(None).prefetch_related(None)
    return {approval: base.filter(approval=approval) for approval in Approval.values}


def agent_playbook_sources(agent_playbook: AgentPlaybook) -> QuerySet[UserPlaybook]:
    """Every user playbook an agent playbook was made from that still exists."""
    return (
        UserPlaybook.objects.defer("embedding")
        .filter(pk__in=agent_playbook.source_user_playbook_ids)
        .order_by("id")
    )


def playbook_names() -> list[str]:
    return list(PlaybookExtractor.objects.values_list("name", flat=True))


def agent_versions() -> list[str]:
    """Agent versions that have user playbooks, for pickers.

    A skip scan: one probe of the (agent_version, ...) index per version,
    instead of reading every row to find the few distinct values.
    """
    table = connection.ops.quote_name(UserPlaybook._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH RECURSIVE versions(value) AS (
                SELECT MIN(agent_version) FROM {table}
                UNION ALL
                SELECT (
                    SELECT MIN(agent_version) FROM {table}
                    WHERE agent_version > value
                )
                FROM versions WHERE value IS NOT NULL
            )
            SELECT value FROM versions WHERE value IS NOT NULL
            """
        )
        known = {row[0] for row in cursor.fetchall()}
    return sorted(known | {DEFAULT_AGENT_VERSION})


def pending_scopes() -> QuerySet[PlaybookGeneration]:
    """Agent versions and names with pending user playbooks, for review."""
    return (
        PlaybookGeneration.objects.filter(status=Status.PENDING)
        .values("agent_version", "playbook_name")
        .annotate(users=Count("user_id", distinct=True), items=Count("playbooks"))
        .order_by("agent_version", "playbook_name")
    )


def _scope(
    agent_version: str | None, playbook_name: str | None, user_id: str | None
) -> Q:
    q = Q()
    if agent_version:
        q &= Q(agent_version=agent_version)
    if playbook_name:
        q &= Q(playbook_name=playbook_name)
    if user_id:
        q &= Q(user_id=user_id)
    return q


def _with_same_scope(status: str) -> Exists:
    return Exists(
        PlaybookGeneration.objects.filter(
            status=status,
            user_id=OuterRef("user_id"),
            agent_version=OuterRef("agent_version"),
            playbook_name=OuterRef("playbook_name"),
        )
    )


def _items(generations: QuerySet[PlaybookGeneration]) -> int:
    return UserPlaybook.objects.filter(generation__in=generations).count()


def _users(generations: QuerySet[PlaybookGeneration]) -> int:
    return generations.values("user_id").distinct().count()


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


@dataclass(frozen=True)
class UpgradePreview:
    users: int
    pending: int
    current: int
    archived: int

    @property
    def changes(self) -> bool:
        return self.users > 0

    @property
    def summary(self) -> str:
        return (
            f"{_plural(self.users, 'user')}: {self.pending:,} pending become "
            f"current, {self.current:,} current are archived, {self.archived:,} "
            f"archived are deleted"
        )


@dataclass(frozen=True)
class DowngradePreview:
    users: int
    restored: int
    demoted: int

    @property
    def changes(self) -> bool:
        return self.users > 0

    @property
    def summary(self) -> str:
        return (
            f"{_plural(self.users, 'user')}: {self.restored:,} archived become "
            f"current again, {self.demoted:,} current are archived"
        )


def upgrade_preview(
    *,
    agent_version: str | None = None,
    playbook_name: str | None = None,
    user_id: str | None = None,
) -> UpgradePreview:
    """What `upgrade_user_playbooks` would change, counted the same way."""
    scope = _scope(agent_version, playbook_name, user_id)
    replaced = scope & Q(_with_same_scope(Status.PENDING))
    pending = PlaybookGeneration.objects.filter(scope, status=Status.PENDING)
    return UpgradePreview(
        users=_users(pending),
        pending=_items(pending),
        current=_items(
            PlaybookGeneration.objects.filter(replaced, status=Status.CURRENT)
        ),
        archived=_items(
            PlaybookGeneration.objects.filter(replaced, status=Status.ARCHIVED)
        ),
    )


def downgrade_preview(
    *,
    agent_version: str | None = None,
    playbook_name: str | None = None,
    user_id: str | None = None,
) -> DowngradePreview:
    """What `downgrade_user_playbooks` would change for this scope."""
    scope = _scope(agent_version, playbook_name, user_id)
    restore = PlaybookGeneration.objects.filter(scope, status=Status.ARCHIVED)
    demote = PlaybookGeneration.objects.filter(
        scope & Q(_with_same_scope(Status.ARCHIVED)), status=Status.CURRENT
    )
    return DowngradePreview(
        users=_users(restore), restored=_items(restore), demoted=_items(demote)
    )


@dataclass(frozen=True)
class AggregationPreview:
    agent_version: str
    playbook_name: str
    current_user_playbooks: int
    pending: int
    approved: int
    rejected: int
    blocker: str | None

    @property
    def summary(self) -> str:
        return (
            f"{self.current_user_playbooks:,} current user playbooks of "
            f"{self.agent_version} / {self.playbook_name} are clustered. New agent "
            f"playbooks start as pending; the {self.pending:,} pending ones may be "
            f"updated or removed; the {self.approved:,} approved are never "
            f"replaced; the {self.rejected:,} rejected are not proposed again."
        )


def aggregation_preview(
    *, agent_version: str, playbook_name: str
) -> AggregationPreview:
    current = UserPlaybook.objects.filter(
        agent_version=agent_version, playbook_name=playbook_name, status=Status.CURRENT
    ).count()
    approvals = dict(
        AgentPlaybook.objects.filter(
            agent_version=agent_version, playbook_name=playbook_name
        )
        .values_list("approval")
        .annotate(n=Count("id"))
        .order_by()
    )
    return AggregationPreview(
        agent_version=agent_version,
        playbook_name=playbook_name,
        current_user_playbooks=current,
        pending=approvals.get(Approval.PENDING, 0),
        approved=approvals.get(Approval.APPROVED, 0),
        rejected=approvals.get(Approval.REJECTED, 0),
        blocker=aggregation_blocker(agent_version, playbook_name),
    )


@dataclass
class ClusterView:
    """One cluster of an aggregation run, as its result page shows it."""

    number: int
    size: int
    outcome: str
    agent_playbook: AgentPlaybook | None
    agent_playbook_id: int | None
    members: list[UserPlaybook] = field(default_factory=list)
    missing_ids: list[int] = field(default_factory=list)

    @property
    def not_shown(self) -> int:
        return max(0, self.size - len(self.members) - len(self.missing_ids))


def aggregation_clusters(operation: Operation) -> list[ClusterView]:
    """The clusters of an aggregation run with the playbooks on each side.

    Two queries whatever the number of clusters: the agent playbooks and the
    first CLUSTER_MEMBERS_SHOWN user playbooks of each cluster.
    """
    details: list[dict[str, Any]] = operation.result.get("cluster_details") or []
    agent_ids = {d["agent_playbook_id"] for d in details if d.get("agent_playbook_id")}
    member_ids = {
        pk
        for d in details
        for pk in d.get("user_playbook_ids", [])[:CLUSTER_MEMBERS_SHOWN]
    }
    agents = AgentPlaybook.objects.defer("embedding").select_related("reviewed_by")
    agents_by_id = {p.pk: p for p in agents.filter(pk__in=agent_ids)}
    members_by_id = {
        p.pk: p
        for p in UserPlaybook.objects.defer("embedding").filter(pk__in=member_ids)
    }
    clusters = []
    for number, detail in enumerate(details, start=1):
        shown = detail.get("user_playbook_ids", [])[:CLUSTER_MEMBERS_SHOWN]
        agent_id = detail.get("agent_playbook_id")
        clusters.append(
            ClusterView(
                number=number,
                size=detail.get("size", len(shown)),
                outcome=detail.get("outcome", ""),
                agent_playbook=agents_by_id.get(agent_id) if agent_id else None,
                agent_playbook_id=agent_id,
                members=[members_by_id[pk] for pk in shown if pk in members_by_id],
                missing_ids=[pk for pk in shown if pk not in members_by_id],
            )
        )
    return clusters
