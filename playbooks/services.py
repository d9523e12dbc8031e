"""User playbook operations: rerun, manual and automatic generation, upgrade, edits.

A user playbook is a rule for the agent learned from one user's conversations
with one agent version. Its scope is (user, agent version, playbook name); the
playbook name is the name of the extractor that made it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from playbooks.models import PlaybookExtractor, PlaybookGeneration, UserPlaybook
from reflexio_admin import generations, planning
from reflexio_admin.audit import audit_record
from reflexio_admin.interactions import Scope, TurnRow, latest, windows
from reflexio_admin.llm import LLMError, Rule, get_provider
from reflexio_admin.models import (
    DEFAULT_AGENT_VERSION,
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
from reflexio_admin.status import Status

logger = logging.getLogger(__name__)

LABEL = "playbook extractor"


def _extractors(playbook_name: str | None) -> list[PlaybookExtractor]:
    return planning.choose_extractors(
        PlaybookExtractor, [playbook_name] if playbook_name else None, LABEL
    )


def _version(agent_version: str | None) -> str:
    return (agent_version or "").strip() or DEFAULT_AGENT_VERSION


# Starting operations


def rerun_playbook_generation(
    *,
    agent_version: str,
    start_time: datetime | None = None,
    end_time: datetime | None = None,
    source: str | None = None,
    playbook_name: str | None = None,
    requested_by: Any = None,
    ip_address: str | None = None,
) -> Operation:
    """Regenerate user playbooks of one agent version from all its interactions."""
    agent_version = _version(agent_version)
    planning.check_window(start_time, end_time)
    if not _extractors(playbook_name):
        raise OperationError("There is no enabled playbook extractor.")
    planning.require_interactions(
        Scope(
            agent_version=agent_version,
            source=source,
            start_time=start_time,
            end_time=end_time,
        )
    )
    return operation_start(
        kind=OperationKind.RERUN_PLAYBOOKS,
        params=planning.params(
            agent_version=agent_version,
            start_time=start_time,
            end_time=end_time,
            source=source,
            playbook_name=playbook_name,
        ),
        key=scope_key(agent_version, None),
        requested_by=requested_by,
        ip_address=ip_address,
    )


def manual_playbook_generation(
    *,
    agent_version: str,
    source: str | None = None,
    playbook_name: str | None = None,
    requested_by: Any = None,
    ip_address: str | None = None,
) -> Operation:
    """Generate from each user's latest batch_size interactions, as CURRENT."""
    agent_version = _version(agent_version)
    planning.manual_extractors(_extractors(playbook_name), LABEL)
    planning.require_interactions(Scope(agent_version=agent_version, source=source))
    return operation_start(
        kind=OperationKind.MANUAL_PLAYBOOKS,
        params=planning.params(
            agent_version=agent_version, source=source, playbook_name=playbook_name
        ),
        key=scope_key(agent_version, None),
        requested_by=requested_by,
        ip_address=ip_address,
    )


def cursor_key(user_id: str, agent_version: str) -> str:
    return f"playbooks/{agent_version}/{user_id}"


def auto_extraction_check(
    *, user_id: str, agent_version: str, batch_interval: int
) -> DueCheck:
    """What decides whether a user's automatic playbook extraction is due."""
    agent_version = _version(agent_version)
    return DueCheck(
        interactions={"user_id": user_id, "agent_version": agent_version},
        cursor_key=cursor_key(user_id, agent_version),
        batch_interval=batch_interval,
        kind=OperationKind.AUTO_PLAYBOOKS,
        key=scope_key(agent_version, user_id),
    )


def start_auto_extraction(*, user_id: str, agent_version: str) -> Operation | None:
    """Queue automatic extraction for a user; None if a run is already active."""
    agent_version = _version(agent_version)
    try:
        return operation_start(
            kind=OperationKind.AUTO_PLAYBOOKS,
            params={"agent_version": agent_version, "user_id": user_id},
            key=scope_key(agent_version, user_id),
        )
    except OperationConflict:
        # A run for this user is already active; the next publish retries.
        return None


# Plans run by the job


def _rules_to_playbooks(
    found: Iterable[tuple[Rule, list[TurnRow]]],
    *,
    user_id: str,
    agent_version: str,
    playbook_name: str,
    operation_id: int | None,
    source: str | None,
) -> list[UserPlaybook]:
    return [
        UserPlaybook(
            user_id=user_id,
            agent_version=agent_version,
            playbook_name=playbook_name,
            trigger=rule.trigger,
            content=rule.content,
            rationale=rule.rationale,
            source=source or (rows[-1].source if rows else ""),
            source_interaction_ids=sorted({row.id for row in rows}),
            request_id=rows[-1].request_id if rows else "",
            operation_id=operation_id,
        )
        for rule, rows in found
    ]


def playbook_text(playbook: UserPlaybook | Rule) -> str:
    """The text that is embedded and compared: the situation and the rule."""
    if playbook.trigger:
        return f"{playbook.trigger}: {playbook.content}"
    return playbook.content


def _embed(playbooks: list[UserPlaybook], written: Written) -> None:
    if not playbooks:
        return
    vectors, usage = get_provider().embed([playbook_text(p) for p in playbooks])
    written.spend(usage)
    for playbook, vector in zip(playbooks, vectors, strict=True):
        playbook.embedding = vector


class _PlaybookPlan:
    def __init__(self, operation: Operation) -> None:
        params = operation.params
        self.operation = operation
        self.agent_version = _version(params.get("agent_version"))
        self.scope = Scope(
            user_id=params.get("user_id"),
            agent_version=self.agent_version,
            source=params.get("source"),
            start_time=planning.parse_time(params.get("start_time")),
            end_time=planning.parse_time(params.get("end_time")),
        )
        self.extractors = [
            e
            for e in _extractors(params.get("playbook_name"))
            if self.scope.source is None or e.reads_source(self.scope.source)
        ]
        self.config = GenerationSettings.load()
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

    def _interactions(self, user_id: str, extractor: PlaybookExtractor) -> QuerySet:
        return self.scope.for_user(user_id).queryset(extractor.enabled_sources)

    def _extract(
        self,
        extractor: PlaybookExtractor,
        rows: list[TurnRow],
        known: list[str],
        written: Written,
    ) -> list[tuple[Rule, list[TurnRow]]]:
        result = get_provider().extract_playbooks(
            definition=extractor.definition_prompt,
            context=extractor.context_prompt,
            turns=[row.turn() for row in rows],
            known_rules=known,
        )
        written.spend(result.usage)
        return [
            (rule, [rows[i] for i in rule.source_turns if 0 <= i < len(rows)])
            for rule in result.items
        ]

    def _scope(self, user_id: str, extractor: PlaybookExtractor) -> dict[str, str]:
        return {
            "user_id": user_id,
            "agent_version": self.agent_version,
            "playbook_name": extractor.name,
        }


class RerunPlan(_PlaybookPlan):
    def process(self, user_id: str) -> UserOutcome:
        written = Written()
        for extractor in self.extractors:
            found = self._walk(
                extractor, self._interactions(user_id, extractor), written
            )
            if found is None:
                continue
            scope = self._scope(user_id, extractor)
            playbooks = _rules_to_playbooks(
                found,
                operation_id=self.operation.pk,
                source=self.scope.source,
                **scope,
            )
            _embed(playbooks, written)
            generations.replace_pending(
                generation_model=PlaybookGeneration,
                item_model=UserPlaybook,
                scope=scope,
                items=playbooks,
                operation_id=self.operation.pk,
                current_digest=current_digest(**scope),
                last_seen_interaction_id=generations.last_interaction_id(
                    user_id=user_id, agent_version=self.agent_version
                ),
            )
            written.items += len(playbooks)
        return written.outcome()

    def _walk(
        self, extractor: PlaybookExtractor, qs: QuerySet, written: Written
    ) -> list[tuple[Rule, list[TurnRow]]] | None:
        found: list[tuple[Rule, list[TurnRow]]] = []
        window_count = 0
        for rows in windows(qs, planning.batch_size(extractor, self.config)):
            window_count += 1
            known = [playbook_text(rule) for rule, _ in found]
            found.extend(self._extract(extractor, rows, known, written))
        if window_count == 0:
            return None
        if window_count == 1 or len(found) < 2:
            return found
        result = get_provider().consolidate_playbooks(
            definition=extractor.definition_prompt, rules=[rule for rule, _ in found]
        )
        written.spend(result.usage)
        return [
            (
                rule,
                [
                    row
                    for i in rule.merged_from
                    if 0 <= i < len(found)
                    for row in found[i][1]
                ],
            )
            for rule in result.items
        ]


class ManualPlan(_PlaybookPlan):
    def process(self, user_id: str) -> UserOutcome:
        written = Written()
        newest = 0
        for extractor in self.extractors:
            size = planning.batch_size(extractor, self.config)
            if not extractor.allow_manual_trigger or not size:
                continue
            rows = latest(self._interactions(user_id, extractor), size)
            if rows:
                newest = max(newest, rows[-1].id)
                self._merge(user_id, extractor, rows, written)
        if newest:
            _advance_cursor(user_id, self.agent_version, newest)
        return written.outcome()

    def _merge(
        self,
        user_id: str,
        extractor: PlaybookExtractor,
        rows: list[TurnRow],
        written: Written,
    ) -> None:
        """Add the rules found in `rows` to the user's CURRENT playbooks."""
        scope = self._scope(user_id, extractor)
        known = [
            playbook_text(p)
            for p in UserPlaybook.objects.filter(status=Status.CURRENT, **scope)
        ]
        found = self._extract(extractor, rows, known, written)
        if not found:
            return
        playbooks = _rules_to_playbooks(
            found, operation_id=self.operation.pk, source=self.scope.source, **scope
        )
        _embed(playbooks, written)
        with transaction.atomic():
            live = generations.generation_for(PlaybookGeneration, scope, Status.CURRENT)
            for playbook in playbooks:
                playbook.generation = live
                playbook.status = Status.CURRENT
            UserPlaybook.objects.bulk_create(playbooks)
        written.items += len(playbooks)


class AutoPlan(ManualPlan):
    """Interactions since the last extraction of this user and agent version."""

    def process(self, user_id: str) -> UserOutcome:
        written = Written()
        cursor = ExtractionCursor.objects.filter(
            scope_key=cursor_key(user_id, self.agent_version)
        ).first()
        since = cursor.last_interaction_id if cursor else 0
        newest = since
        for extractor in self.extractors:
            qs = self._interactions(user_id, extractor).filter(pk__gt=since)
            for rows in windows(qs, planning.batch_size(extractor, self.config)):
                newest = max(newest, rows[-1].id)
                self._merge(user_id, extractor, rows, written)
        if newest > since:
            _advance_cursor(user_id, self.agent_version, newest)
        return written.outcome()


def _advance_cursor(user_id: str, agent_version: str, newest: int) -> None:
    cursor, _ = ExtractionCursor.objects.get_or_create(
        scope_key=cursor_key(user_id, agent_version)
    )
    ExtractionCursor.objects.filter(
        pk=cursor.pk, last_interaction_id__lt=newest
    ).update(last_interaction_id=newest, updated_at=timezone.now())


def plan_rerun(operation: Operation) -> RerunPlan:
    return RerunPlan(operation)


def plan_manual(operation: Operation) -> ManualPlan:
    return ManualPlan(operation)


def plan_auto(operation: Operation) -> AutoPlan:
    return AutoPlan(operation)


# Upgrade and downgrade


def current_digest(*, user_id: str, agent_version: str, playbook_name: str) -> str:
    return generations.digest_items(
        UserPlaybook.objects.filter(
            user_id=user_id,
            agent_version=agent_version,
            playbook_name=playbook_name,
            status=Status.CURRENT,
        )
    )


def _scope_q(
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


def _scope_dict(**values: str | None) -> dict[str, str]:
    return {name: value for name, value in values.items() if value}


def upgrade_user_playbooks(
    *,
    agent_version: str | None = None,
    playbook_name: str | None = None,
    user_id: str | None = None,
    actor: Any = None,
    ip_address: str | None = None,
) -> generations.UpgradeResult:
    """PENDING → CURRENT, CURRENT → ARCHIVED, old ARCHIVED deleted, per scope."""
    scope = _scope_dict(
        agent_version=agent_version, playbook_name=playbook_name, user_id=user_id
    )

    def record(result: generations.UpgradeResult) -> Any:
        return audit_record(
            action="upgrade_user_playbooks",
            actor=actor,
            scope=scope,
            counts={
                "promoted": result.promoted,
                "archived": result.archived,
                "deleted": result.deleted,
                "users": result.users,
            },
            ip_address=ip_address,
        )

    result, _ = generations.upgrade(
        generation_model=PlaybookGeneration,
        item_model=UserPlaybook,
        scope=_scope_q(agent_version, playbook_name, user_id),
        snapshot_kind="user_playbook",
        snapshot_fields=(
            "agent_version",
            "playbook_name",
            "trigger",
            "content",
            "rationale",
            "status",
        ),
        user_id=user_id,
        audit_event_factory=record,
    )
    return result


def downgrade_user_playbooks(
    *,
    agent_version: str | None = None,
    playbook_name: str | None = None,
    user_id: str | None = None,
    actor: Any = None,
    ip_address: str | None = None,
) -> generations.DowngradeResult:
    """Restore ARCHIVED user playbooks to CURRENT and archive CURRENT, per scope."""
    scope = _scope_dict(
        agent_version=agent_version, playbook_name=playbook_name, user_id=user_id
    )

    def record(result: generations.DowngradeResult) -> Any:
        return audit_record(
            action="downgrade_user_playbooks",
            actor=actor,
            scope=scope,
            counts={
                "restored": result.restored,
                "demoted": result.demoted,
                "users": result.users,
            },
            ip_address=ip_address,
        )

    result, _ = generations.downgrade(
        generation_model=PlaybookGeneration,
        item_model=UserPlaybook,
        scope=_scope_q(agent_version, playbook_name, user_id),
        user_id=user_id,
        audit_event_factory=record,
    )
    return result


# Single user playbooks


def _snapshot(playbook: UserPlaybook) -> dict[str, Any]:
    return {
        "user_playbook_id": playbook.pk,
        "user_id": playbook.user_id,
        "agent_version": playbook.agent_version,
        "playbook_name": playbook.playbook_name,
        "status": playbook.status,
        "trigger": playbook.trigger,
        "content": playbook.content,
        "rationale": playbook.rationale,
    }


def _embedding_for(text: str) -> list[float] | None:
    try:
        vectors, _ = get_provider().embed([text])
    except LLMError as exc:
        logger.warning("Could not embed an edited user playbook: %s", exc)
        return None
    return vectors[0]


def user_playbook_add(
    *,
    user_id: str,
    agent_version: str,
    playbook_name: str,
    content: str,
    trigger: str = "",
    rationale: str = "",
    status: str = Status.CURRENT,
    source: str = "",
    request_id: str = "",
    source_interaction_ids: Sequence[int] = (),
    actor: Any = None,
    ip_address: str | None = None,
) -> UserPlaybook:
    """Add one user playbook to the generation of the given status."""
    content, trigger = content.strip(), trigger.strip()
    if not user_id.strip():
        raise OperationError("user_id is required.")
    if not content and not trigger:
        raise OperationError("At least one of content or trigger must be given.")
    if status not in Status.values:
        raise OperationError(f"status must be one of {', '.join(Status.values)}.")
    scope = {
        "user_id": user_id,
        "agent_version": _version(agent_version),
        "playbook_name": playbook_name or "default_playbook_extractor",
    }
    with transaction.atomic():
        generation = generations.generation_for(PlaybookGeneration, scope, status)
        playbook = UserPlaybook(
            generation=generation,
            status=status,
            trigger=trigger,
            content=content,
            rationale=rationale,
            source=source,
            request_id=request_id,
            source_interaction_ids=list(source_interaction_ids),
            **scope,
        )
        playbook.embedding = _embedding_for(playbook_text(playbook))
        playbook.save()
        audit_record(
            action="user_playbook_added",
            actor=actor,
            scope={"user_id": user_id, "agent_version": scope["agent_version"]},
            after=_snapshot(playbook),
            ip_address=ip_address,
        )
    return playbook


def user_playbook_update(
    *,
    playbook: UserPlaybook,
    content: str | None = None,
    trigger: str | None = None,
    rationale: str | None = None,
    playbook_name: str | None = None,
    actor: Any = None,
    ip_address: str | None = None,
) -> UserPlaybook:
    """Edit one user playbook in place; the audit event keeps before and after."""
    before = _snapshot(playbook)
    if content is not None:
        playbook.content = content.strip()
    if trigger is not None:
        playbook.trigger = trigger.strip()
    if rationale is not None:
        playbook.rationale = rationale.strip()
    if not playbook.content and not playbook.trigger:
        raise OperationError("At least one of content or trigger must remain.")
    playbook.embedding = _embedding_for(playbook_text(playbook))
    with transaction.atomic():
        if playbook_name and playbook_name != playbook.playbook_name:
            # Renaming moves the playbook into the generation of its new scope.
            playbook.playbook_name = playbook_name
            playbook.generation = generations.generation_for(
                PlaybookGeneration,
                {
                    "user_id": playbook.user_id,
                    "agent_version": playbook.agent_version,
                    "playbook_name": playbook_name,
                },
                playbook.status,
            )
        playbook.save()
        audit_record(
            action="user_playbook_updated",
            actor=actor,
            scope={
                "user_id": playbook.user_id,
                "agent_version": playbook.agent_version,
            },
            before=before,
            after=_snapshot(playbook),
            ip_address=ip_address,
        )
    return playbook


def user_playbook_delete(
    *, playbook: UserPlaybook, actor: Any = None, ip_address: str | None = None
) -> None:
    with transaction.atomic():
        audit_record(
            action="user_playbook_deleted",
            actor=actor,
            scope={
                "user_id": playbook.user_id,
                "agent_version": playbook.agent_version,
            },
            before=_snapshot(playbook),
            ip_address=ip_address,
        )
        playbook.delete()
