"""Profile operations: rerun, manual and automatic generation, upgrade, edits.

The console, the HTTP API, jobs and management commands all call these.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from profiles.models import ProfileExtractor, ProfileGeneration, UserProfile
from reflexio_admin import generations, planning
from reflexio_admin.audit import audit_record
from reflexio_admin.interactions import Scope, TurnRow, latest, windows
from reflexio_admin.llm import Fact, LLMError, get_provider
from reflexio_admin.models import (
    ExtractionCursor,
    GenerationSettings,
    Operation,
    OperationKind,
)
from reflexio_admin.operations import (
    OperationConflict,
    OperationError,
    operation_start,
    scope_key,
)
from reflexio_admin.planning import DueCheck, Written
from reflexio_admin.runner import UserOutcome
from reflexio_admin.status import TTL_DAYS, Status, TimeToLive

logger = logging.getLogger(__name__)

FAMILY = "profiles"


def _extractors(names: Sequence[str] | None) -> list[ProfileExtractor]:
    return planning.choose_extractors(ProfileExtractor, names, "profile extractor")


# Starting operations


def rerun_profile_generation(
    *,
    user_id: str | None = None,
    start_time: datetime | None = None,
    end_time: datetime | None = None,
    source: str | None = None,
    extractor_names: Sequence[str] | None = None,
    requested_by: Any = None,
    ip_address: str | None = None,
) -> Operation:
    """Regenerate profiles from all interactions in scope, as PENDING."""
    planning.check_window(start_time, end_time)
    extractors = _extractors(extractor_names)
    if not extractors:
        raise OperationError("There is no enabled profile extractor.")
    planning.require_interactions(
        Scope(user_id=user_id, source=source, start_time=start_time, end_time=end_time)
    )
    return operation_start(
        kind=OperationKind.RERUN_PROFILES,
        params=planning.params(
            user_id=user_id,
            start_time=start_time,
            end_time=end_time,
            source=source,
            extractor_names=[e.name for e in extractors] if extractor_names else None,
        ),
        key=scope_key(FAMILY, user_id),
        requested_by=requested_by,
        ip_address=ip_address,
    )


def manual_profile_generation(
    *,
    user_id: str | None = None,
    source: str | None = None,
    extractor_names: Sequence[str] | None = None,
    requested_by: Any = None,
    ip_address: str | None = None,
) -> Operation:
    """Generate from the latest batch_size interactions, written as CURRENT."""
    extractors = planning.manual_extractors(
        _extractors(extractor_names), "profile extractor"
    )
    planning.require_interactions(Scope(user_id=user_id, source=source))
    return operation_start(
        kind=OperationKind.MANUAL_PROFILES,
        params=planning.params(
            user_id=user_id,
            source=source,
            extractor_names=[e.name for e in extractors],
        ),
        key=scope_key(FAMILY, user_id),
        requested_by=requested_by,
        ip_address=ip_address,
    )


def cursor_key(user_id: str) -> str:
    return f"{FAMILY}/{user_id}"


def auto_extraction_check(*, user_id: str, batch_interval: int) -> DueCheck:
    """What decides whether a user's automatic profile extraction is due."""
    return DueCheck(
        interactions={"user_id": user_id},
        cursor_key=cursor_key(user_id),
        batch_interval=batch_interval,
        kind=OperationKind.AUTO_PROFILES,
        key=scope_key(FAMILY, user_id),
    )


def start_auto_extraction(*, user_id: str) -> Operation | None:
    """Queue automatic extraction for a user; None if a run is already active."""
    try:
        return operation_start(
            kind=OperationKind.AUTO_PROFILES,
            params={"user_id": user_id},
            key=scope_key(FAMILY, user_id),
        )
    except OperationConflict:
        # A run for this user is already queued or running; it, or the next
        # publish after it, picks these interactions up.
        return None


# Plans run by the job


def _expiry(ttl: str) -> datetime | None:
    days = TTL_DAYS.get(TimeToLive(ttl) if ttl in TimeToLive.values else None)
    return timezone.now() + timedelta(days=days) if days else None


def _ttl(value: str) -> str:
    return value if value in TimeToLive.values else TimeToLive.INFINITY


def _profiles_from(
    facts: Iterable[tuple[Fact, list[TurnRow]]],
    *,
    user_id: str,
    extractor_name: str,
    operation_id: int | None,
    source: str | None,
) -> list[UserProfile]:
    profiles = []
    for fact, rows in facts:
        ttl = _ttl(fact.time_to_live)
        profiles.append(
            UserProfile(
                user_id=user_id,
                extractor_name=extractor_name,
                content=fact.content,
                source=source or (rows[-1].source if rows else ""),
                source_interaction_ids=sorted({row.id for row in rows}),
                request_id=rows[-1].request_id if rows else "",
                time_to_live=ttl,
                expires_at=_expiry(ttl),
                operation_id=operation_id,
            )
        )
    return profiles


def _embed(profiles: list[UserProfile], written: Written) -> None:
    if not profiles:
        return
    vectors, usage = get_provider().embed([p.content for p in profiles])
    written.spend(usage)
    for profile, vector in zip(profiles, vectors, strict=True):
        profile.embedding = vector


class _ProfilePlan:
    """Shared parts of the three profile plans."""

    def __init__(self, operation: Operation) -> None:
        params = operation.params
        self.operation = operation
        self.scope = Scope(
            user_id=params.get("user_id"),
            source=params.get("source"),
            start_time=planning.parse_time(params.get("start_time")),
            end_time=planning.parse_time(params.get("end_time")),
        )
        self.extractors = [
            e
            for e in _extractors(params.get("extractor_names"))
            if self.scope.source is None or e.reads_source(self.scope.source)
        ]
        self.config = GenerationSettings.load()
        self.definition_by_name = {e.name: e for e in self.extractors}
        self._users: list[str] | None = None

    def _user_list(self) -> list[str]:
        if self._users is None:
            self._users = self.scope.user_ids()
        return self._users

    def count_users(self) -> int:
        return len(self._user_list())

    def users(self) -> Iterable[str]:
        return iter(self._user_list())

    def finish(self, operation: Operation) -> dict[str, Any]:
        return {}

    def _extract(
        self,
        extractor: ProfileExtractor,
        rows: list[TurnRow],
        known: list[str],
        written: Written,
    ) -> list[tuple[Fact, list[TurnRow]]]:
        result = get_provider().extract_profiles(
            definition=extractor.definition_prompt,
            context=extractor.context_prompt,
            turns=[row.turn() for row in rows],
            known_facts=known,
        )
        written.spend(result.usage)
        return [
            (fact, [rows[i] for i in fact.source_turns if 0 <= i < len(rows)])
            for fact in result.items
        ]


class RerunPlan(_ProfilePlan):
    def process(self, user_id: str) -> UserOutcome:
        written = Written()
        for extractor in self.extractors:
            qs = self.scope.for_user(user_id).queryset(extractor.enabled_sources)
            facts = self._walk(extractor, qs, written)
            if facts is None:
                continue
            profiles = _profiles_from(
                facts,
                user_id=user_id,
                extractor_name=extractor.name,
                operation_id=self.operation.pk,
                source=self.scope.source,
            )
            _embed(profiles, written)
            scope = {"user_id": user_id, "extractor_name": extractor.name}
            generations.replace_pending(
                generation_model=ProfileGeneration,
                item_model=UserProfile,
                scope=scope,
                items=profiles,
                operation_id=self.operation.pk,
                current_digest=current_digest(**scope),
                last_seen_interaction_id=generations.last_interaction_id(
                    user_id=user_id
                ),
            )
            written.items += len(profiles)
        return written.outcome()

    def _walk(
        self, extractor: ProfileExtractor, qs: Any, written: Written
    ) -> list[tuple[Fact, list[TurnRow]]] | None:
        """Extract window by window, then consolidate; None if no interactions."""
        facts: list[tuple[Fact, list[TurnRow]]] = []
        window_count = 0
        for rows in windows(qs, planning.batch_size(extractor, self.config)):
            window_count += 1
            found = self._extract(
                extractor, rows, [f.content for f, _ in facts], written
            )
            superseded = {i for fact, _ in found for i in fact.supersedes}
            facts = [pair for i, pair in enumerate(facts) if i not in superseded]
            facts.extend(found)
        if window_count == 0:
            return None
        if window_count == 1 or len(facts) < 2:
            return facts
        result = get_provider().consolidate_profiles(
            definition=extractor.definition_prompt, facts=[f.content for f, _ in facts]
        )
        written.spend(result.usage)
        consolidated = []
        for fact in result.items:
            rows = [
                row
                for i in fact.merged_from
                if 0 <= i < len(facts)
                for row in facts[i][1]
            ]
            consolidated.append((fact, rows))
        return consolidated


class ManualPlan(_ProfilePlan):
    """Latest batch_size interactions of each user, merged into CURRENT."""

    def process(self, user_id: str) -> UserOutcome:
        written = Written()
        newest = 0
        for extractor in self.extractors:
            if not extractor.allow_manual_trigger:
                continue
            size = planning.batch_size(extractor, self.config)
            if not size:
                continue
            qs = self.scope.for_user(user_id).queryset(extractor.enabled_sources)
            rows = latest(qs, size)
            if not rows:
                continue
            newest = max(newest, rows[-1].id)
            merge_into_current(
                user_id=user_id,
                extractor=extractor,
                rows=rows,
                plan=self,
                written=written,
            )
        if newest:
            _advance_cursor(user_id, newest)
        return written.outcome()


class AutoPlan(_ProfilePlan):
    """Interactions that arrived since the last extraction, merged into CURRENT."""

    def process(self, user_id: str) -> UserOutcome:
        written = Written()
        cursor = ExtractionCursor.objects.filter(scope_key=cursor_key(user_id)).first()
        since = cursor.last_interaction_id if cursor else 0
        newest = since
        for extractor in self.extractors:
            qs = (
                self.scope.for_user(user_id)
                .queryset(extractor.enabled_sources)
                .filter(pk__gt=since)
            )
            for rows in windows(qs, planning.batch_size(extractor, self.config)):
                newest = max(newest, rows[-1].id)
                merge_into_current(
                    user_id=user_id,
                    extractor=extractor,
                    rows=rows,
                    plan=self,
                    written=written,
                )
        if newest > since:
            _advance_cursor(user_id, newest)
        return written.outcome()


def _advance_cursor(user_id: str, newest: int) -> None:
    cursor, _ = ExtractionCursor.objects.get_or_create(scope_key=cursor_key(user_id))
    ExtractionCursor.objects.filter(
        pk=cursor.pk, last_interaction_id__lt=newest
    ).update(last_interaction_id=newest, updated_at=timezone.now())


def merge_into_current(
    *,
    user_id: str,
    extractor: ProfileExtractor,
    rows: list[TurnRow],
    plan: _ProfilePlan,
    written: Written,
) -> None:
    """Extract from `rows` and merge the facts into the user's CURRENT set.

    A fact that supersedes a current one moves the old fact to ARCHIVED; it
    is never silently lost.
    """
    scope = {"user_id": user_id, "extractor_name": extractor.name}
    current = list(
        UserProfile.objects.filter(status=Status.CURRENT, **scope).order_by("id")
    )
    found = plan._extract(extractor, rows, [p.content for p in current], written)
    if not found:
        return
    profiles = _profiles_from(
        found,
        user_id=user_id,
        extractor_name=extractor.name,
        operation_id=plan.operation.pk,
        source=plan.scope.source,
    )
    _embed(profiles, written)
    superseded = [
        current[i].pk
        for fact, _ in found
        for i in fact.supersedes
        if 0 <= i < len(current)
    ]
    with transaction.atomic():
        live = generations.generation_for(ProfileGeneration, scope, Status.CURRENT)
        if superseded:
            archive = generations.generation_for(
                ProfileGeneration, scope, Status.ARCHIVED
            )
            UserProfile.objects.filter(pk__in=superseded, status=Status.CURRENT).update(
                generation=archive, status=Status.ARCHIVED, modified_at=timezone.now()
            )
        for profile in profiles:
            profile.generation = live
            profile.status = Status.CURRENT
        UserProfile.objects.bulk_create(profiles)
    written.items += len(profiles)


def plan_rerun(operation: Operation) -> RerunPlan:
    return RerunPlan(operation)


def plan_manual(operation: Operation) -> ManualPlan:
    return ManualPlan(operation)


def plan_auto(operation: Operation) -> AutoPlan:
    return AutoPlan(operation)


# Upgrade and downgrade


def current_digest(*, user_id: str, extractor_name: str) -> str:
    return generations.digest_items(
        UserProfile.objects.filter(
            user_id=user_id, extractor_name=extractor_name, status=Status.CURRENT
        )
    )


def _scope_q(user_id: str | None, extractor_name: str | None = None) -> Q:
    q = Q()
    if user_id:
        q &= Q(user_id=user_id)
    if extractor_name:
        q &= Q(extractor_name=extractor_name)
    return q


def upgrade_profiles(
    *,
    user_id: str | None = None,
    only_affected_users: bool = True,
    extractor_name: str | None = None,
    actor: Any = None,
    ip_address: str | None = None,
) -> generations.UpgradeResult:
    """PENDING → CURRENT, CURRENT → ARCHIVED, old ARCHIVED deleted, per scope.

    `only_affected_users` is accepted for compatibility: users without pending
    profiles are never changed either way, so nobody is left with nothing live.
    """
    scope = {"user_id": user_id, "extractor_name": extractor_name}

    def record(result: generations.UpgradeResult) -> Any:
        return audit_record(
            action="upgrade_profiles",
            actor=actor,
            scope={k: v for k, v in scope.items() if v},
            counts={
                "promoted": result.promoted,
                "archived": result.archived,
                "deleted": result.deleted,
                "users": result.users,
            },
            ip_address=ip_address,
        )

    result, _ = generations.upgrade(
        generation_model=ProfileGeneration,
        item_model=UserProfile,
        scope=_scope_q(user_id, extractor_name),
        snapshot_kind="profile",
        snapshot_fields=("profile_id", "extractor_name", "content", "source", "status"),
        user_id=user_id,
        audit_event_factory=record,
    )
    logger.info(
        "Profile upgrade promoted %s, archived %s", result.promoted, result.archived
    )
    return result


def downgrade_profiles(
    *,
    user_id: str | None = None,
    extractor_name: str | None = None,
    actor: Any = None,
    ip_address: str | None = None,
) -> generations.DowngradeResult:
    """Restore ARCHIVED profiles to CURRENT and archive CURRENT, per scope."""
    scope = {"user_id": user_id, "extractor_name": extractor_name}

    def record(result: generations.DowngradeResult) -> Any:
        return audit_record(
            action="downgrade_profiles",
            actor=actor,
            scope={k: v for k, v in scope.items() if v},
            counts={
                "restored": result.restored,
                "demoted": result.demoted,
                "users": result.users,
            },
            ip_address=ip_address,
        )

    result, _ = generations.downgrade(
        generation_model=ProfileGeneration,
        item_model=UserProfile,
        scope=_scope_q(user_id, extractor_name),
        user_id=user_id,
        audit_event_factory=record,
    )
    return result


@dataclass(frozen=True)
class UpgradePreview:
    users: int
    pending: int
    current: int
    archived: int


def upgrade_preview(*, user_id: str | None = None) -> UpgradePreview:
    """What an upgrade of this scope would change, for the confirmation."""
    pending_gens = ProfileGeneration.objects.filter(
        _scope_q(user_id), status=Status.PENDING
    )
    affected = Q(_scope_q(user_id)) & Q(
        generations._same_scope(ProfileGeneration, Status.PENDING)
    )
    return UpgradePreview(
        users=pending_gens.values("user_id").distinct().count(),
        pending=UserProfile.objects.filter(generation__in=pending_gens).count(),
        current=UserProfile.objects.filter(
            generation__in=ProfileGeneration.objects.filter(
                affected, status=Status.CURRENT
            )
        ).count(),
        archived=UserProfile.objects.filter(
            generation__in=ProfileGeneration.objects.filter(
                affected, status=Status.ARCHIVED
            )
        ).count(),
    )


# Single facts, for support staff and scripts


def _snapshot(profile: UserProfile) -> dict[str, Any]:
    return {
        "profile_id": profile.profile_id,
        "user_id": profile.user_id,
        "extractor_name": profile.extractor_name,
        "status": profile.status,
        "content": profile.content,
        "custom_features": profile.custom_features,
    }


def _embedding_for(content: str) -> list[float] | None:
    try:
        vectors, _ = get_provider().embed([content])
    except LLMError as exc:
        logger.warning("Could not embed an edited profile: %s", exc)
        return None
    return vectors[0]


def profile_add(
    *,
    user_id: str,
    content: str,
    status: str = Status.CURRENT,
    extractor_name: str | None = None,
    source: str = "",
    time_to_live: str = TimeToLive.INFINITY,
    custom_features: dict[str, Any] | None = None,
    profile_id: str | None = None,
    source_interaction_ids: Sequence[int] = (),
    request_id: str = "",
    actor: Any = None,
    ip_address: str | None = None,
) -> UserProfile:
    """Add one fact to a user's generation of the given status."""
    content = content.strip()
    if not user_id.strip():
        raise OperationError("user_id is required.")
    if not content:
        raise OperationError("content must not be empty.")
    if status not in Status.values:
        raise OperationError(f"status must be one of {', '.join(Status.values)}.")
    extractor = (
        extractor_name
        or ProfileExtractor.objects.values_list("name", flat=True)
        .order_by("id")
        .first()
        or "manual"
    )
    scope = {"user_id": user_id, "extractor_name": extractor}
    ttl = _ttl(time_to_live)
    with transaction.atomic():
        if profile_id and UserProfile.objects.filter(profile_id=profile_id).exists():
            raise OperationError(
                f"A profile with profile_id {profile_id} already exists."
            )
        generation = generations.generation_for(ProfileGeneration, scope, status)
        profile = UserProfile.objects.create(
            generation=generation,
            status=status,
            content=content,
            source=source,
            time_to_live=ttl,
            expires_at=_expiry(ttl),
            custom_features=custom_features,
            source_interaction_ids=list(source_interaction_ids),
            request_id=request_id,
            embedding=_embedding_for(content),
            **({"profile_id": profile_id} if profile_id else {}),
            **scope,
        )
        audit_record(
            action="profile_added",
            actor=actor,
            scope={"user_id": user_id},
            after=_snapshot(profile),
            ip_address=ip_address,
        )
    return profile


def profile_update(
    *,
    profile: UserProfile,
    content: str | None = None,
    custom_features: dict[str, Any] | None = None,
    actor: Any = None,
    ip_address: str | None = None,
) -> UserProfile:
    """Edit one fact in place; the audit event keeps the text before and after."""
    before = _snapshot(profile)
    if content is not None:
        content = content.strip()
        if not content:
            raise OperationError("content must not be empty.")
        if content != profile.content:
            profile.content = content
            profile.embedding = _embedding_for(content)
    if custom_features is not None:
        profile.custom_features = custom_features
    with transaction.atomic():
        profile.save()
        audit_record(
            action="profile_updated",
            actor=actor,
            scope={"user_id": profile.user_id},
            before=before,
            after=_snapshot(profile),
            ip_address=ip_address,
        )
    return profile


def profile_delete(
    *, profile: UserProfile, actor: Any = None, ip_address: str | None = None
) -> None:
    """Delete one fact; the audit event keeps what it said."""
    with transaction.atomic():
        audit_record(
            action="profile_deleted",
            actor=actor,
            scope={"user_id": profile.user_id},
            before=_snapshot(profile),
            ip_address=ip_address,
        )
        profile.delete()
