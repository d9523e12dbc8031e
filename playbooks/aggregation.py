"""Aggregation: cluster the current user playbooks of an agent version and
consolidate each cluster into one agent playbook that a person approves.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from playbooks.models import AgentPlaybook, Approval, PlaybookExtractor, UserPlaybook
from playbooks.services import playbook_text
from reflexio_admin.audit import audit_record
from reflexio_admin.llm import ClusterDecision, LLMError, Rule, Usage, get_provider
from reflexio_admin.models import DEFAULT_AGENT_VERSION, Operation, OperationKind
from reflexio_admin.operations import OperationError, operation_start, scope_key
from reflexio_admin.runner import UserOutcome
from reflexio_admin.status import Status

logger = logging.getLogger(__name__)

PAGE_SIZE = 2000
EMBED_BATCH = 256
# Agglomerative clustering needs the full distance matrix; past this many
# playbooks HDBSCAN takes over.
AGGLOMERATIVE_LIMIT = 3000


def _current(agent_version: str, playbook_name: str) -> Any:
    return UserPlaybook.objects.filter(
        agent_version=agent_version, playbook_name=playbook_name, status=Status.CURRENT
    )


def aggregation_blocker(agent_version: str, playbook_name: str) -> str | None:
    """Why aggregation cannot run for this scope, or None when it can."""
    extractor = PlaybookExtractor.objects.filter(name=playbook_name).first()
    if extractor is None:
        return (
            f"There are no aggregation settings for playbook_name "
            f"'{playbook_name}': no playbook extractor has that name."
        )
    if not extractor.aggregation_enabled:
        return f"Aggregation is turned off for playbook extractor '{playbook_name}'."
    count = _current(agent_version, playbook_name).count()
    if count < extractor.min_cluster_size:
        return (
            f"Only {count} current user playbook(s) for agent_version "
            f"'{agent_version}' and playbook_name '{playbook_name}'; aggregation "
            f"needs at least the minimum cluster size ({extractor.min_cluster_size})."
        )
    return None


def run_playbook_aggregation(
    *,
    agent_version: str,
    playbook_name: str,
    requested_by: Any = None,
    ip_address: str | None = None,
) -> Operation:
    """Start an aggregation run, or say exactly why it cannot run."""
    agent_version = (agent_version or "").strip() or DEFAULT_AGENT_VERSION
    blocker = aggregation_blocker(agent_version, playbook_name)
    if blocker:
        raise OperationError(blocker)
    return operation_start(
        kind=OperationKind.AGGREGATE_PLAYBOOKS,
        params={"agent_version": agent_version, "playbook_name": playbook_name},
        key=scope_key(f"{agent_version}:{playbook_name}", None),
        requested_by=requested_by,
        ip_address=ip_address,
    )


@dataclass
class _Member:
    id: int
    rule: Rule
    vector: np.ndarray


@dataclass
class _Run:
    usage: Usage = field(default_factory=Usage)
    calls: int = 0


def cluster_labels(
    vectors: np.ndarray, *, similarity: float, min_size: int
) -> list[int]:
    """Group rows of `vectors` by cosine similarity; -1 marks no cluster."""
    count = len(vectors)
    if count == 0:
        return []
    if count == 1:
        return [0]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.where(norms == 0, 1, norms)
    if count <= AGGLOMERATIVE_LIMIT:
        from sklearn.cluster import AgglomerativeClustering

        model = AgglomerativeClustering(
            n_clusters=None,
            metric="cosine",
            linkage="average",
            distance_threshold=max(1e-6, 1.0 - similarity),
        )
        return [int(label) for label in model.fit_predict(unit)]
    from sklearn.cluster import HDBSCAN

    # On unit vectors Euclidean distance orders pairs as cosine distance does.
    model = HDBSCAN(min_cluster_size=max(2, min_size), metric="euclidean")
    return [int(label) for label in model.fit_predict(unit)]


class AggregationPlan:
    def __init__(self, operation: Operation) -> None:
        self.operation = operation
        self.agent_version = operation.params["agent_version"]
        self.playbook_name = operation.params["playbook_name"]
        self.extractor = PlaybookExtractor.objects.get(name=self.playbook_name)

    def run(self, operation: Operation) -> UserOutcome:
        state = _Run()
        members = self._members(state)
        labels = cluster_labels(
            np.array([m.vector for m in members], dtype=np.float32),
            similarity=self.extractor.clustering_similarity,
            min_size=self.extractor.min_cluster_size,
        )
        groups: dict[int, list[_Member]] = {}
        for member, label in zip(members, labels, strict=True):
            if label >= 0:
                groups.setdefault(label, []).append(member)
        kept = [g for g in groups.values() if len(g) >= self.extractor.min_cluster_size]
        kept.sort(key=len, reverse=True)
        decisions = self._decide(kept, state)
        summary = self._apply(kept, decisions)
        summary.update(
            read=len(members),
            clusters=len(groups),
            clusters_kept=len(kept),
            dropped_small=len(groups) - len(kept),
        )
        Operation.objects.filter(pk=operation.pk).update(result=summary)
        logger.info(
            "Aggregation %s read %s playbooks into %s clusters",
            operation.pk,
            len(members),
            len(kept),
        )
        return UserOutcome(
            items=len(summary["added"]) + len(summary["updated"]),
            usage=state.usage,
            llm_calls=state.calls,
        )

    def _members(self, state: _Run) -> list[_Member]:
        """Every current user playbook of the scope, page by page, embedded."""
        members: list[_Member] = []
        last_id = 0
        provider = get_provider()
        while True:
            page = list(
                _current(self.agent_version, self.playbook_name)
                .filter(pk__gt=last_id)
                .order_by("pk")[:PAGE_SIZE]
            )
            if not page:
                return members
            last_id = page[-1].pk
            missing = [p for p in page if not p.embedding]
            for start in range(0, len(missing), EMBED_BATCH):
                batch = missing[start : start + EMBED_BATCH]
                vectors, usage = provider.embed([playbook_text(p) for p in batch])
                state.usage = state.usage + usage
                state.calls += 1
                for playbook, vector in zip(batch, vectors, strict=True):
                    playbook.embedding = vector
                UserPlaybook.objects.bulk_update(batch, ["embedding"])
            members.extend(
                _Member(
                    id=p.pk,
                    rule=Rule(
                        trigger=p.trigger, content=p.content, rationale=p.rationale
                    ),
                    vector=np.asarray(p.embedding, dtype=np.float32),
                )
                for p in page
            )

    def _existing(self) -> tuple[list[AgentPlaybook], list[str]]:
        scope = AgentPlaybook.objects.filter(
            agent_version=self.agent_version, playbook_name=self.playbook_name
        )
        live = list(scope.exclude(approval=Approval.REJECTED).order_by("id"))
        rejected = [playbook_text(p) for p in scope.filter(approval=Approval.REJECTED)]
        return live, rejected

    def _decide(
        self, clusters: list[list[_Member]], state: _Run
    ) -> list[ClusterDecision | str]:
        """Ask the model about each cluster, several at a time."""
        live, rejected = self._existing()
        existing = [playbook_text(p) for p in live]
        provider = get_provider()

        def decide(cluster: list[_Member]) -> tuple[ClusterDecision | str, Usage]:
            try:
                return provider.consolidate_cluster(
                    rules=[m.rule for m in cluster],
                    existing=existing,
                    rejected=rejected,
                )
            except LLMError as exc:
                return f"the model could not consolidate this cluster: {exc}", exc.usage

        workers = max(1, min(settings.LLM_CONCURRENCY, len(clusters) or 1))
        with ThreadPoolExecutor(workers, thread_name_prefix="reflexio-agg") as pool:
            answers = list(pool.map(decide, clusters))
        for _, usage in answers:
            state.usage = state.usage + usage
            state.calls += 1
        self._live = live
        return [decision for decision, _ in answers]

    def _apply(
        self, clusters: list[list[_Member]], decisions: list[ClusterDecision | str]
    ) -> dict[str, Any]:
        live: list[AgentPlaybook] = self._live
        added: list[int] = []
        updated: list[int] = []
        covered: list[dict[str, Any]] = []
        failed: list[str] = []
        details: list[dict[str, Any]] = []
        kept_pending: set[int] = set()
        with transaction.atomic():
            for cluster, decision in zip(clusters, decisions, strict=True):
                ids = [m.id for m in cluster]
                detail: dict[str, Any] = {
                    "size": len(ids),
                    "user_playbook_ids": ids[:200],
                }
                details.append(detail)
                if isinstance(decision, str):
                    failed.append(decision)
                    detail["outcome"] = "failed"
                    continue
                if decision.rule is None:
                    target = (
                        live[decision.covered_by]
                        if decision.covered_by is not None
                        and 0 <= decision.covered_by < len(live)
                        else None
                    )
                    covered.append(
                        {
                            "agent_playbook_id": target.pk if target else None,
                            "reason": decision.reason,
                        }
                    )
                    detail.update(
                        outcome="covered",
                        agent_playbook_id=target.pk if target else None,
                    )
                    if target is not None and target.approval == Approval.PENDING:
                        target.user_playbooks.add(*ids)
                        kept_pending.add(target.pk)
                    continue
                playbook, created = self._save(decision.rule, ids, live)
                kept_pending.add(playbook.pk)
                (added if created else updated).append(playbook.pk)
                detail.update(
                    outcome="added" if created else "updated",
                    agent_playbook_id=playbook.pk,
                )
            removed = self._remove_stale(kept_pending)
        return {
            "added": added,
            "updated": updated,
            "removed": removed,
            "covered": covered,
            "failed_clusters": failed,
            "cluster_details": details,
        }

    def _save(
        self, rule: Rule, ids: list[int], live: list[AgentPlaybook]
    ) -> tuple[AgentPlaybook, bool]:
        """Update the pending agent playbook made from the same users, or add one."""
        overlap = [
            p
            for p in live
            if p.approval == Approval.PENDING
            and set(p.source_user_playbook_ids) & set(ids)
        ]
        vectors, _ = get_provider().embed([playbook_text(rule)])
        if overlap:
            playbook = overlap[0]
            playbook.trigger, playbook.content = rule.trigger, rule.content
            playbook.rationale = rule.rationale
            playbook.source_user_playbook_ids = ids
            playbook.operation = self.operation
            playbook.embedding = vectors[0]
            playbook.save()
            playbook.user_playbooks.set(ids)
            return playbook, False
        playbook = AgentPlaybook.objects.create(
            agent_version=self.agent_version,
            playbook_name=self.playbook_name,
            trigger=rule.trigger,
            content=rule.content,
            rationale=rule.rationale,
            source_user_playbook_ids=ids,
            operation=self.operation,
            embedding=vectors[0],
        )
        playbook.user_playbooks.set(ids)
        return playbook, True

    def _remove_stale(self, kept: set[int]) -> list[int]:
        """Drop pending proposals whose user playbooks are no longer current."""
        stale = []
        pending = AgentPlaybook.objects.filter(
            agent_version=self.agent_version,
            playbook_name=self.playbook_name,
            approval=Approval.PENDING,
        ).exclude(pk__in=kept)
        for playbook in pending:
            still_current = _current(self.agent_version, self.playbook_name).filter(
                pk__in=playbook.source_user_playbook_ids
            )
            if not still_current.exists():
                stale.append(playbook.pk)
        AgentPlaybook.objects.filter(pk__in=stale).delete()
        return stale


def plan_aggregation(operation: Operation) -> AggregationPlan:
    return AggregationPlan(operation)


# Decisions on agent playbooks


def _snapshot(playbook: AgentPlaybook) -> dict[str, Any]:
    return {
        "agent_playbook_id": playbook.pk,
        "agent_version": playbook.agent_version,
        "playbook_name": playbook.playbook_name,
        "approval": playbook.approval,
        "trigger": playbook.trigger,
        "content": playbook.content,
        "rationale": playbook.rationale,
    }


def agent_playbook_set_approval(
    *,
    agent_playbook: AgentPlaybook,
    approval: str,
    actor: Any = None,
    ip_address: str | None = None,
) -> AgentPlaybook:
    """Approve, reject or reopen an agent playbook, recording who and when."""
    if approval not in Approval.values:
        raise OperationError(f"approval must be one of {', '.join(Approval.values)}.")
    before = _snapshot(agent_playbook)
    user = actor if getattr(actor, "is_authenticated", False) else None
    with transaction.atomic():
        agent_playbook.approval = approval
        agent_playbook.reviewed_by = user
        agent_playbook.reviewed_at = timezone.now()
        agent_playbook.save(
            update_fields=["approval", "reviewed_by", "reviewed_at", "modified_at"]
        )
        audit_record(
            action=f"agent_playbook_{approval}",
            actor=actor,
            scope={
                "agent_version": agent_playbook.agent_version,
                "playbook_name": agent_playbook.playbook_name,
            },
            before=before,
            after=_snapshot(agent_playbook),
            ip_address=ip_address,
        )
    return agent_playbook


def agent_playbook_update(
    *,
    agent_playbook: AgentPlaybook,
    content: str | None = None,
    trigger: str | None = None,
    rationale: str | None = None,
    playbook_name: str | None = None,
    approval: str | None = None,
    actor: Any = None,
    ip_address: str | None = None,
) -> AgentPlaybook:
    """Edit an agent playbook's text; the audit event keeps before and after."""
    before = _snapshot(agent_playbook)
    if content is not None:
        if not content.strip():
            raise OperationError("content must not be empty.")
        agent_playbook.content = content.strip()
    if trigger is not None:
        agent_playbook.trigger = trigger.strip()
    if rationale is not None:
        agent_playbook.rationale = rationale.strip()
    if playbook_name:
        agent_playbook.playbook_name = playbook_name
    with transaction.atomic():
        agent_playbook.save()
        audit_record(
            action="agent_playbook_edited",
            actor=actor,
            scope={
                "agent_version": agent_playbook.agent_version,
                "playbook_name": agent_playbook.playbook_name,
            },
            before=before,
            after=_snapshot(agent_playbook),
            ip_address=ip_address,
        )
    if approval is not None and approval != agent_playbook.approval:
        agent_playbook_set_approval(
            agent_playbook=agent_playbook,
            approval=approval,
            actor=actor,
            ip_address=ip_address,
        )
    return agent_playbook
