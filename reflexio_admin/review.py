"""The review: a PENDING set of knowledge against the CURRENT one, item by item.

`reflexio_admin.pairing` pairs the two sets by meaning; this module loads a
scope's items (profiles of one user, or user playbooks of one agent version),
says whether the review is *stale* (CURRENT or the conversation moved on
since the PENDING set was made), summarises reviews per user for list pages,
applies item-by-item decisions and upgrades a reviewed scope. No model is
called while a review renders.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import reduce
from operator import or_
from typing import Any

from django.db import transaction
from django.db.models import Count, Max, Model, Q
from django.utils import timezone

from playbooks import services as playbook_services
from playbooks.models import PlaybookGeneration, UserPlaybook
from profiles import services as profile_services
from profiles.models import ProfileGeneration, UserProfile, new_profile_id
from reflexio_admin import generations
from reflexio_admin.audit import audit_record
from reflexio_admin.models import DeletedItem, Interaction
from reflexio_admin.operations import OperationError
from reflexio_admin.pairing import (
    ComparedItem,
    Comparison,
    Counts,
    Label,
    ReviewItem,
    compare,
    count_rows,
)
from reflexio_admin.status import Status

logger = logging.getLogger(__name__)

# Decisions on a PENDING item, and on a CURRENT item the pending set drops.
ACCEPT = "accept"
REJECT = "reject"
ARCHIVE = "archive"
KEEP = "keep"
PENDING_DECISIONS = (ACCEPT, REJECT)
REMOVAL_DECISIONS = (ARCHIVE, KEEP)


class ReviewError(OperationError):
    """A review action cannot be applied; nothing was written."""


class DecisionConflict(ReviewError):
    """The items changed under the reviewer; nothing was written."""

    status_code = 409


class StaleReview(ReviewError):
    """The review is stale and the action was not explicitly confirmed."""

    status_code = 409


# Families: what differs between profiles and user playbooks


@dataclass(frozen=True)
class _Family:
    kind: str
    generation_model: type[Model]
    item_model: type[Model]
    scope_fields: tuple[str, ...]
    # Fields of Interaction that name the conversation a pending set read.
    interaction_fields: tuple[str, ...]
    snapshot_kind: str
    # What the audit trail keeps of an item a reviewer rejects.
    snapshot_fields: tuple[str, ...]
    text: Callable[[Any], str]
    public_id: Callable[[Any], str | int]
    current_digest: Callable[..., str]

    @property
    def lock_family(self) -> str:
        return self.generation_model._meta.app_label

    def snapshot(self, item: Any) -> dict[str, Any]:
        data = {name: getattr(item, name) for name in self.snapshot_fields}
        return data | {"pk": item.pk, "status": item.status}


PROFILES = "profiles"
PLAYBOOKS = "playbooks"

_FAMILIES = {
    PROFILES: _Family(
        kind=PROFILES,
        generation_model=ProfileGeneration,
        item_model=UserProfile,
        scope_fields=ProfileGeneration.SCOPE_FIELDS,
        interaction_fields=("user_id",),
        snapshot_kind="profile",
        snapshot_fields=(
            "profile_id",
            "user_id",
            "extractor_name",
            "content",
            "source",
            "source_interaction_ids",
            "custom_features",
        ),
        text=lambda item: item.content,
        public_id=lambda item: item.profile_id,
        current_digest=profile_services.current_digest,
    ),
    PLAYBOOKS: _Family(
        kind=PLAYBOOKS,
        generation_model=PlaybookGeneration,
        item_model=UserPlaybook,
        scope_fields=PlaybookGeneration.SCOPE_FIELDS,
        interaction_fields=("user_id", "agent_version"),
        snapshot_kind="user_playbook",
        snapshot_fields=(
            "user_id",
            "agent_version",
            "playbook_name",
            "trigger",
            "content",
            "rationale",
            "source",
            "source_interaction_ids",
        ),
        text=playbook_services.playbook_text,
        public_id=lambda item: item.pk,
        current_digest=playbook_services.current_digest,
    ),
}


@dataclass(frozen=True)
class ReviewScope:
    """What one review covers.

    Profiles: one user, optionally one extractor. User playbooks: one agent
    version, optionally one playbook name, and one user or a page of users
    (`user_ids`).
    """

    kind: str
    user_id: str | None = None
    extractor_name: str | None = None
    agent_version: str | None = None
    playbook_name: str | None = None
    user_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in _FAMILIES:
            raise ReviewError(f"Unknown review kind {self.kind!r}.")
        if self.kind == PROFILES and not self.user_id:
            raise ReviewError("user_id is required to review profiles.")
        if self.kind == PLAYBOOKS and not self.agent_version:
            raise ReviewError("agent_version is required to review user playbooks.")

    @property
    def family(self) -> _Family:
        return _FAMILIES[self.kind]

    def filters(self) -> dict[str, str]:
        if self.kind == PROFILES:
            values = {"user_id": self.user_id, "extractor_name": self.extractor_name}
        else:
            values = {
                "agent_version": self.agent_version,
                "playbook_name": self.playbook_name,
                "user_id": self.user_id,
            }
        return {name: value for name, value in values.items() if value}

    def query(self) -> Q:
        query = Q(**self.filters())
        if self.user_ids:
            query &= Q(user_id__in=list(self.user_ids))
        return query

    def covers(self, item: Any) -> bool:
        if self.user_ids and item.user_id not in self.user_ids:
            return False
        return all(
            getattr(item, name) == value for name, value in self.filters().items()
        )

    def audit_scope(self) -> dict[str, Any]:
        scope: dict[str, Any] = dict(self.filters())
        if self.user_ids:
            scope["user_ids"] = list(self.user_ids)
        return scope


def family_of(kind: str) -> _Family:
    return _FAMILIES[kind]


def profile_scope(user_id: str, extractor_name: str | None = None) -> ReviewScope:
    return ReviewScope(PROFILES, user_id=user_id, extractor_name=extractor_name)


def playbook_scope(
    agent_version: str,
    playbook_name: str | None = None,
    user_id: str | None = None,
    user_ids: Iterable[str] = (),
) -> ReviewScope:
    return ReviewScope(
        PLAYBOOKS,
        agent_version=agent_version,
        playbook_name=playbook_name,
        user_id=user_id,
        user_ids=tuple(sorted(set(user_ids))),
    )


def _scope_key(family: _Family, obj: Any) -> tuple[str, ...]:
    return tuple(getattr(obj, name) for name in family.scope_fields)


def _review_item(family: _Family, obj: Any) -> ReviewItem:
    return ReviewItem(
        id=obj.pk,
        text=family.text(obj),
        embedding=obj.embedding if isinstance(obj.embedding, list) else None,
        scope=_scope_key(family, obj),
        public_id=family.public_id(obj),
        obj=obj,
    )


# Loading a scope


@dataclass
class _Loaded:
    family: _Family
    pending_generations: list[Any]
    pending: list[Any]
    current: list[Any]

    def current_rows_by_scope(self) -> dict[tuple[str, ...], list[tuple[int, Any]]]:
        rows: dict[tuple[str, ...], list[tuple[int, Any]]] = defaultdict(list)
        for item in self.current:
            rows[_scope_key(self.family, item)].append((item.pk, item.modified_at))
        return rows


def _load(
    family: _Family, query: Q, *, for_update: bool = False, light: bool = False
) -> _Loaded:
    """The pending generations in `query` and the items a review compares.

    CURRENT items are loaded only for scopes that have a pending generation.
    `light` loads only what staleness needs (no texts, no embeddings).
    """
    generations_qs = family.generation_model._default_manager.filter(
        query, status=Status.PENDING
    ).order_by(*family.scope_fields)
    items = (
        family.item_model._default_manager.filter(query)
        .filter(
            Q(status=Status.PENDING)
            | Q(
                Q(status=Status.CURRENT),
                generations._same_scope(family.generation_model, Status.PENDING),
            )
        )
        .order_by("pk")
    )
    if light:
        items = items.only("pk", "status", "modified_at", *family.scope_fields)
    elif for_update:
        generations_qs = generations_qs.select_for_update()
        items = items.select_for_update(of=("self",))
    else:
        items = items.select_related("operation")
    loaded = list(items)
    return _Loaded(
        family=family,
        pending_generations=list(generations_qs),
        pending=[item for item in loaded if item.status == Status.PENDING],
        current=[item for item in loaded if item.status == Status.CURRENT],
    )


def digest_rows(rows: Iterable[tuple[int, datetime]]) -> str:
    """`generations.digest_items` computed from rows already in memory."""
    hasher = hashlib.sha256()
    for pk, modified in sorted(rows, key=lambda row: row[0]):
        hasher.update(f"{pk}:{modified.isoformat()};".encode())
    return hasher.hexdigest()


def _review_digest(loaded: _Loaded) -> str:
    """Fingerprint both sides of a review, to notice any change under a reviewer."""
    hasher = hashlib.sha256()
    for item in sorted(loaded.pending + loaded.current, key=lambda item: item.pk):
        hasher.update(
            f"{item.pk}:{item.status}:{item.modified_at.isoformat()};".encode()
        )
    return hasher.hexdigest()


# Staleness


@dataclass(frozen=True)
class Staleness:
    """Why a PENDING set may no longer be a fair proposal, if it is not.

    `current_changed` and `missed_interactions` name the generation scopes
    concerned; `new_interactions` counts the interactions they missed.
    """

    current_changed: tuple[tuple[str, ...], ...] = ()
    missed_interactions: tuple[tuple[str, ...], ...] = ()
    new_interactions: int = 0
    reasons: tuple[str, ...] = ()

    @property
    def stale(self) -> bool:
        return bool(self.current_changed or self.missed_interactions)

    @property
    def stale_users(self) -> set[str]:
        # The user id leads the scope fields of both families.
        return {key[0] for key in (*self.current_changed, *self.missed_interactions)}

    def __bool__(self) -> bool:
        return self.stale


def _describe_scope(family: _Family, key: tuple[str, ...]) -> str:
    return ", ".join(
        f"{name} {value}" for name, value in zip(family.scope_fields, key, strict=True)
    )


def _conversation(family: _Family, generation: Any) -> tuple[str, ...]:
    return tuple(getattr(generation, name) for name in family.interaction_fields)


def _last_seen(generation: Any) -> int | None:
    """The newest interaction a pending set saw; None when it records nothing.

    A set made by a rerun records its digest; with no interaction id beside
    it, there were no interactions then, so every one since is new.
    """
    if generation.last_interaction_id is not None:
        return int(generation.last_interaction_id)
    return 0 if generation.current_digest else None


def _newer_interactions(
    family: _Family, pending_generations: Sequence[Any]
) -> dict[tuple[str, ...], tuple[int, int]]:
    """Per conversation, the interactions newer than its oldest pending set.

    Returns how many there are and the newest id; one query.
    """
    seen: dict[tuple[str, ...], int] = {}
    for generation in pending_generations:
        last = _last_seen(generation)
        if last is not None:
            key = _conversation(family, generation)
            seen[key] = min(seen.get(key, last), last)
    if not seen:
        return {}
    condition = reduce(
        or_,
        (
            Q(pk__gt=last, **dict(zip(family.interaction_fields, key, strict=True)))
            for key, last in seen.items()
        ),
    )
    rows = (
        Interaction.objects.filter(condition)
        .values(*family.interaction_fields)
        .annotate(count=Count("pk"), newest=Max("pk"))
        .order_by()
    )
    return {
        tuple(row[name] for name in family.interaction_fields): (
            row["count"],
            row["newest"],
        )
        for row in rows
    }


def _staleness(loaded: _Loaded) -> Staleness:
    family = loaded.family
    current_rows = loaded.current_rows_by_scope()
    newer = _newer_interactions(family, loaded.pending_generations)
    changed: list[tuple[str, ...]] = []
    missed: list[tuple[str, ...]] = []
    for generation in loaded.pending_generations:
        key = _scope_key(family, generation)
        # A pending set added by hand records no digest: nothing to compare.
        recorded = generation.current_digest
        if recorded and recorded != digest_rows(current_rows.get(key, [])):
            changed.append(key)
        _, newest = newer.get(_conversation(family, generation), (0, 0))
        last = _last_seen(generation)
        if last is not None and newest > last:
            missed.append(key)
    new_interactions = sum(count for count, _ in newer.values())

    reasons = [
        f"CURRENT changed since the pending set was made "
        f"({_describe_scope(family, key)}): a manual run, a support edit or "
        "another upgrade wrote to it."
        for key in changed
    ]
    if missed:
        reasons.append(
            f"{new_interactions} new interaction(s) arrived since the pending set "
            "was made; it does not reflect them."
        )
    return Staleness(
        current_changed=tuple(changed),
        missed_interactions=tuple(missed),
        new_interactions=new_interactions,
        reasons=tuple(reasons),
    )


def is_stale(scope: ReviewScope) -> Staleness:
    """Whether CURRENT or the conversation moved on since PENDING was made.

    A scope with several pending generations (one per extractor, or one per
    user and playbook name) is stale if any of them is. Falsy when fresh.
    """
    return _staleness(_load(scope.family, scope.query()))


# The review of one scope


@dataclass(frozen=True)
class UserGroup:
    user_id: str
    items: list[ComparedItem]
    counts: Counts


@dataclass(frozen=True)
class Review:
    scope: ReviewScope
    comparison: Comparison
    staleness: Staleness
    digest: str
    pending_generations: list[Any]

    @property
    def has_pending(self) -> bool:
        return bool(self.pending_generations)

    @property
    def counts(self) -> Counts:
        return self.comparison.counts

    def by_user(self) -> list[UserGroup]:
        """Rows grouped by user, the users with most changes first."""
        rows: dict[str, list[ComparedItem]] = defaultdict(list)
        for row in self.comparison.items:
            item = row.pending or row.current
            assert item is not None
            rows[item.obj.user_id if item.obj is not None else ""].append(row)
        groups = [
            UserGroup(user_id, items, count_rows(items))
            for user_id, items in rows.items()
        ]
        return sorted(groups, key=lambda g: (-g.counts.changed, g.user_id))


def _compare_loaded(loaded: _Loaded) -> Comparison:
    family = loaded.family
    return compare(
        [_review_item(family, item) for item in loaded.pending],
        [_review_item(family, item) for item in loaded.current],
    )


def load_review(scope: ReviewScope) -> Review:
    """Compare PENDING with CURRENT in `scope`; three queries, no model call."""
    loaded = _load(scope.family, scope.query())
    return Review(
        scope=scope,
        comparison=_compare_loaded(loaded),
        staleness=_staleness(loaded),
        digest=_review_digest(loaded),
        pending_generations=loaded.pending_generations,
    )


# Summaries for list pages


@dataclass(frozen=True)
class ReviewSummary:
    user_id: str
    counts: Counts
    stale: bool


def summaries_for_users(
    user_ids: Iterable[str], *, kind: str = PROFILES, agent_version: str | None = None
) -> dict[str, ReviewSummary]:
    """Review counts per user, for the users that have something pending.

    Meant for one page of a list (up to 50 users): three queries whatever the
    number of users; users without pending items are left out.
    """
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    family = _FAMILIES[kind]
    query = Q(user_id__in=ids)
    if kind == PLAYBOOKS and agent_version:
        query &= Q(agent_version=agent_version)
    loaded = _load(family, query)
    if not loaded.pending_generations:
        return {}

    comparison = _compare_loaded(loaded)
    rows: dict[str, list[ComparedItem]] = defaultdict(list)
    for row in comparison.items:
        rows[row.scope[0]].append(row)
    stale_users = _staleness(loaded).stale_users
    return {
        user_id: ReviewSummary(
            user_id=user_id,
            counts=count_rows(rows.get(user_id, [])),
            stale=user_id in stale_users,
        )
        for user_id in sorted({g.user_id for g in loaded.pending_generations})
    }


# Item decisions


@dataclass(frozen=True)
class DecisionResult:
    accepted: int = 0
    rejected: int = 0
    archived: int = 0
    kept: int = 0
    remaining: int = 0
    # Pending copies of what the decisions keep live; see _settle_generations.
    carried: int = 0
    event_id: int | None = None

    def message(self) -> str:
        parts = [
            f"{self.accepted} accepted",
            f"{self.rejected} rejected",
            f"{self.archived} current item(s) archived",
        ]
        if self.kept:
            parts.append(f"{self.kept} current item(s) kept")
        left = (
            f"{self.remaining} change(s) still to review."
            if self.remaining
            else "Nothing is left to review."
        )
        return f"Decisions applied: {', '.join(parts)}. {left}"


@dataclass
class _Plan:
    accept: list[ComparedItem] = field(default_factory=list)
    reject: list[ComparedItem] = field(default_factory=list)
    drop: list[ComparedItem] = field(default_factory=list)
    keep: list[ComparedItem] = field(default_factory=list)


def _clean(decisions: Mapping[Any, str]) -> dict[int, str]:
    cleaned: dict[int, str] = {}
    for key, value in decisions.items():
        if value not in PENDING_DECISIONS + REMOVAL_DECISIONS:
            raise ReviewError(
                "A decision must be accept or reject (a pending item), or archive "
                f"or keep (a current item the pending set drops), not {value!r}."
            )
        try:
            cleaned[int(key)] = value
        except (TypeError, ValueError):
            raise ReviewError(f"{key!r} is not an item id.") from None
    if not cleaned:
        raise ReviewError("Choose accept or reject for at least one item.")
    return cleaned


def _why_not_open(
    family: _Family, closed: dict[int, str], scope: ReviewScope, paired: set[int]
) -> str:
    """Explain, per item, why a decision on it cannot be applied."""
    found = {
        item.pk: item
        for item in family.item_model._default_manager.filter(pk__in=list(closed))
    }
    reasons = []
    for pk, decision in sorted(closed.items()):
        item = found.get(pk)
        if item is None:
            reasons.append(
                f"item {pk} no longer exists (it was rejected, or a rerun "
                "replaced the pending set)"
            )
        elif not scope.covers(item):
            reasons.append(f"item {pk} is not part of this review")
        elif decision in PENDING_DECISIONS:
            reasons.append(
                f"item {pk} is no longer pending but {item.status} (someone "
                "decided on it or upgraded this scope meanwhile)"
            )
        elif pk in paired:
            reasons.append(
                f"item {pk} is paired with a pending item; decide on that one"
            )
        else:
            reasons.append(
                f"item {pk} is {item.status}, not a current item this review drops"
            )
    return "; ".join(reasons)


def _plan(
    family: _Family, scope: ReviewScope, comparison: Comparison, choice: dict[int, str]
) -> _Plan:
    by_pending = {row.pending.id: row for row in comparison.items if row.pending}
    by_removed = {
        row.current.id: row
        for row in comparison.items
        if row.current and row.label == Label.REMOVED
    }
    plan = _Plan()
    closed: dict[int, str] = {}
    for pk, decision in sorted(choice.items()):
        if decision in PENDING_DECISIONS and pk in by_pending:
            (plan.accept if decision == ACCEPT else plan.reject).append(by_pending[pk])
        elif decision in REMOVAL_DECISIONS and pk in by_removed:
            (plan.drop if decision == ARCHIVE else plan.keep).append(by_removed[pk])
        else:
            closed[pk] = decision
    if closed:
        paired = {row.current.id for row in comparison.items if row.current}
        raise DecisionConflict(
            "Nothing was changed: "
            f"{_why_not_open(family, closed, scope, paired)}. Reload the review."
        )
    return plan


def _move(
    family: _Family, items: Iterable[ReviewItem], status: str, now: datetime
) -> int:
    """Move items into the `status` generation of their scope."""
    by_scope: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for item in items:
        by_scope[item.scope].append(item.id)
    moved = 0
    for key, ids in by_scope.items():
        target = generations.generation_for(
            family.generation_model,
            dict(zip(family.scope_fields, key, strict=True)),
            status,
        )
        moved += family.item_model._default_manager.filter(pk__in=ids).update(
            generation=target, status=status, modified_at=now
        )
    return moved


def _entry(row: ComparedItem, decision: str) -> dict[str, Any]:
    item = row.pending or row.current
    assert item is not None
    entry: dict[str, Any] = {
        "item_id": item.public_id,
        "pk": item.id,
        "decision": decision,
        "label": str(row.label),
        "scope": list(item.scope),
        "content": item.text,
    }
    if row.pending and row.current:
        entry["paired_with"] = row.current.public_id
        entry["paired_content"] = row.current.text
    return entry


def _open_changes(comparison: Comparison, plan: _Plan) -> dict[tuple[str, ...], int]:
    """Per scope, the changed rows (reworded, added, removed) left undecided."""
    decided = {row.pending.id for row in plan.accept + plan.reject if row.pending}
    decided |= {row.current.id for row in plan.drop + plan.keep if row.current}
    left: dict[tuple[str, ...], int] = defaultdict(int)
    for row in comparison.items:
        item = row.pending or row.current
        if row.label != Label.UNCHANGED and item is not None and item.id not in decided:
            left[row.scope] += 1
    return left


def _survivors(plan: _Plan) -> dict[tuple[str, ...], list[Any]]:
    """Per scope, what the decisions keep live that no pending item stands for.

    An accepted item, the CURRENT partner of a rejected one, a kept item.
    """
    keep: dict[tuple[str, ...], list[Any]] = defaultdict(list)
    for row in plan.accept:
        keep[row.scope].append(row.pending.obj if row.pending else None)
    for row in plan.reject + plan.keep:
        if row.current is not None:
            keep[row.scope].append(row.current.obj)
    return keep


def _proposal_copy(family: _Family, obj: Any, generation: Any) -> Any:
    values = {
        field.attname: getattr(obj, field.attname)
        for field in obj._meta.concrete_fields
        if not field.primary_key
    }
    copy = family.item_model(**values)
    copy.generation = generation
    copy.status = Status.PENDING
    if family.kind == PROFILES:
        copy.profile_id = new_profile_id()
    return copy


def _settle_generations(
    loaded: _Loaded, comparison: Comparison, plan: _Plan, staleness: Staleness
) -> tuple[int, int]:
    """Keep each decided scope's pending set a complete proposal, or close it.

    An upgrade replaces CURRENT with the pending set as a whole, so after
    partial decisions the pending set must still hold everything that is
    to stay live: it receives a pending copy of each item the decisions keep
    (shown as unchanged from then on). A scope with no undecided change left
    is closed instead: its pending generation goes, and an upgrade has
    nothing to do there. A fresh review stays fresh after its own decisions.
    Returns how many changes are left to decide and how many copies were made.
    """
    family = loaded.family
    left = _open_changes(comparison, plan)
    survivors = _survivors(plan)
    touched = {row.scope for row in plan.accept + plan.reject + plan.drop + plan.keep}
    carried = 0
    for generation in loaded.pending_generations:
        key = _scope_key(family, generation)
        if key not in touched:
            continue
        if not left[key]:
            generation.delete()
            continue
        copies = [
            _proposal_copy(family, obj, generation)
            for obj in survivors.get(key, [])
            if obj is not None
        ]
        family.item_model._default_manager.bulk_create(copies)
        carried += len(copies)
        if generation.current_digest and key not in staleness.current_changed:
            generation.current_digest = family.current_digest(
                **dict(zip(family.scope_fields, key, strict=True))
            )
            generation.save(update_fields=["current_digest"])
    return sum(left.values()), carried


def _stale_message(staleness: Staleness, action: str) -> str:
    return (
        f"This review is stale: {' '.join(staleness.reasons)} Confirm that you "
        f"want to {action} anyway, or rerun generation first. Nothing was changed."
    )


def apply_item_decisions(
    *,
    scope: ReviewScope,
    decisions: Mapping[Any, str],
    actor: Any,
    ip_address: str | None = None,
    expected_digest: str | None = None,
    confirm_stale: bool = False,
) -> DecisionResult:
    """Apply a reviewer's accept/reject decisions in one transaction.

    `decisions` maps item primary keys to a decision. A PENDING item is
    accepted (it becomes CURRENT and the CURRENT item it is paired with is
    archived) or rejected (deleted; its snapshot stays with the audit event).
    A CURRENT item the pending set drops (labelled removed) is archived or
    kept. Undecided items stay as they are. A decision that no longer fits
    its item (an accept on an item that is CURRENT by now) is refused.

    The scope is locked and its items re-read first. If any decided item is
    no longer open for a decision (another reviewer, an upgrade or a rerun got
    there first), if the review changed since `expected_digest` was read, or
    if it is stale and `confirm_stale` is false, nothing is written and a
    ReviewError says why. One audit event lists every decision.
    """
    family = scope.family
    choice = _clean(decisions)
    with transaction.atomic():
        generations.lock_scope(family.lock_family, scope.user_id)
        loaded = _load(family, scope.query(), for_update=True)
        if expected_digest and expected_digest != _review_digest(loaded):
            raise DecisionConflict(
                "This review changed since you opened it (someone decided on "
                "items, edited a fact, upgraded or reran generation). Nothing "
                "was changed; reload the review and decide again."
            )
        staleness = _staleness(loaded)
        if staleness and not confirm_stale:
            raise StaleReview(_stale_message(staleness, "apply these decisions"))
        comparison = _compare_loaded(loaded)
        plan = _plan(family, scope, comparison, choice)

        now = timezone.now()
        partners = [row.current for row in plan.accept if row.current]
        archived = _move(family, partners, Status.ARCHIVED, now)
        archived += _move(
            family,
            [row.current for row in plan.drop if row.current],
            Status.ARCHIVED,
            now,
        )
        accepted = _move(
            family,
            [row.pending for row in plan.accept if row.pending],
            Status.CURRENT,
            now,
        )
        rejected_items = [row.pending.obj for row in plan.reject if row.pending]
        snapshots = [(item.pk, family.snapshot(item)) for item in rejected_items]
        family.item_model._default_manager.filter(
            pk__in=[item.pk for item in rejected_items]
        ).delete()
        remaining, carried = _settle_generations(loaded, comparison, plan, staleness)

        counts = {
            "accepted": accepted,
            "rejected": len(rejected_items),
            "archived": archived,
            "kept": len(plan.keep),
        }
        event = audit_record(
            action=f"review_{family.kind}",
            actor=actor,
            scope=scope.audit_scope(),
            counts=counts,
            after={
                "reviewer": _name(actor),
                "stale_confirmed": bool(staleness),
                "decisions": [_entry(row, ACCEPT) for row in plan.accept]
                + [_entry(row, REJECT) for row in plan.reject]
                + [_entry(row, ARCHIVE) for row in plan.drop]
                + [_entry(row, KEEP) for row in plan.keep],
            },
            ip_address=ip_address,
        )
        DeletedItem.objects.bulk_create(
            [
                DeletedItem(
                    audit_event=event,
                    kind=family.snapshot_kind,
                    item_id=str(pk),
                    user_id=data["user_id"],
                    data=data,
                )
                for pk, data in snapshots
            ]
        )
    logger.info(
        "Review decisions on %s (audit event %s): %s accepted, %s rejected, "
        "%s archived",
        family.kind,
        event.pk,
        accepted,
        len(rejected_items),
        archived,
    )
    return DecisionResult(
        accepted=accepted,
        rejected=len(rejected_items),
        archived=archived,
        kept=len(plan.keep),
        remaining=remaining,
        carried=carried,
        event_id=event.pk,
    )


def _name(actor: Any) -> str:
    if actor is not None and getattr(actor, "is_authenticated", False):
        return str(actor.get_username())
    return "system"


# Upgrading a reviewed scope


def upgrade_reviewed(
    *,
    scope: ReviewScope,
    actor: Any,
    ip_address: str | None = None,
    confirm_stale: bool = False,
) -> generations.UpgradeResult:
    """Upgrade the whole scope of a review, refusing a stale one unconfirmed.

    The staleness check and the upgrade run in one transaction under the
    scope lock, so nothing can slip in between.
    """
    family = scope.family
    # An upgrade covers the whole scope, never a page of it.
    scope = replace(scope, user_ids=())
    with transaction.atomic():
        generations.lock_scope(family.lock_family, scope.user_id)
        staleness = _staleness(_load(family, scope.query(), light=True))
        if staleness and not confirm_stale:
            raise StaleReview(_stale_message(staleness, "upgrade"))
        if scope.kind == PROFILES:
            return profile_services.upgrade_profiles(
                user_id=scope.user_id,
                extractor_name=scope.extractor_name,
                actor=actor,
                ip_address=ip_address,
            )
        return playbook_services.upgrade_user_playbooks(
            agent_version=scope.agent_version,
            playbook_name=scope.playbook_name,
            user_id=scope.user_id,
            actor=actor,
            ip_address=ip_address,
        )
