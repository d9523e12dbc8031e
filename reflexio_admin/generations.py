"""Moving generations of knowledge between pending, current and archived.

Profiles and user playbooks share these rules; each app passes its own
generation and item models and a filter that names the scope.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Exists, Max, Model, OuterRef, Q, QuerySet

from reflexio_admin.models import DeletedItem, Interaction
from reflexio_admin.status import Status


@dataclass(frozen=True)
class UpgradeResult:
    promoted: int = 0
    archived: int = 0
    deleted: int = 0
    scopes: int = 0
    users: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.promoted or self.archived or self.deleted or self.scopes)


@dataclass(frozen=True)
class DowngradeResult:
    restored: int = 0
    demoted: int = 0
    scopes: int = 0
    users: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.restored or self.demoted or self.scopes)


def _same_scope(generation_model: type[Model], status: str) -> Exists:
    """True where a generation of `status` exists for the outer row's scope."""
    fields = generation_model.SCOPE_FIELDS  # type: ignore[attr-defined]
    return Exists(
        generation_model._default_manager.filter(
            status=status, **{field: OuterRef(field) for field in fields}
        )
    )


def _advisory_key(name: str) -> int:
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def lock_scope(family: str, user_id: str | None) -> None:
    """Serialise writers of one scope for the rest of the transaction.

    A change to every user takes the family lock exclusively; a change to
    one user shares the family lock and takes that user's lock exclusively.
    All writers lock in this order before touching rows, so an upgrade, a
    downgrade and a rerun of overlapping scopes queue up instead of
    deadlocking. SQLite runs one write transaction at a time anyway.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        if user_id is None:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_advisory_key(family)])
            return
        cursor.execute(
            "SELECT pg_advisory_xact_lock_shared(%s)", [_advisory_key(family)]
        )
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s)", [_advisory_key(f"{family}/{user_id}")]
        )


def digest_items(items: QuerySet[Any]) -> str:
    """Fingerprint a set of items so a later look can tell it has changed."""
    rows = items.order_by("pk").values_list("pk", "modified_at")
    hasher = hashlib.sha256()
    for pk, modified in rows:
        hasher.update(f"{pk}:{modified.isoformat()};".encode())
    return hasher.hexdigest()


def last_interaction_id(**filters: Any) -> int | None:
    return Interaction.objects.filter(**filters).aggregate(last=Max("pk"))["last"]


def replace_pending(
    *,
    generation_model: type[Model],
    item_model: type[Model],
    scope: dict[str, Any],
    items: list[Model],
    operation_id: int | None,
    current_digest: str,
    last_seen_interaction_id: int | None,
) -> Model:
    """Make `items` the pending generation of one scope, replacing the old one.

    Never touches current or archived rows of the scope.
    """
    with transaction.atomic():
        lock_scope(generation_model._meta.app_label, scope["user_id"])
        old = generation_model._default_manager.select_for_update().filter(
            status=Status.PENDING, **scope
        )
        item_model._default_manager.filter(generation__in=old).delete()
        old.delete()
        generation = generation_model._default_manager.create(
            status=Status.PENDING,
            operation_id=operation_id,
            current_digest=current_digest,
            last_interaction_id=last_seen_interaction_id,
            **scope,
        )
        for item in items:
            item.generation = generation  # type: ignore[attr-defined]
            item.status = Status.PENDING  # type: ignore[attr-defined]
        item_model._default_manager.bulk_create(items, batch_size=500)
    return generation


def generation_for(
    generation_model: type[Model], scope: dict[str, Any], status: str
) -> Model:
    """The generation of `status` for a scope, created when missing.

    Call inside a transaction; the scope and the row stay locked for the
    caller until it commits.
    """
    lock_scope(generation_model._meta.app_label, scope["user_id"])
    manager = generation_model._default_manager
    generation = manager.select_for_update().filter(status=status, **scope).first()
    if generation is None:
        generation = manager.create(status=status, **scope)
    return generation


def upgrade(
    *,
    generation_model: type[Model],
    item_model: type[Model],
    scope: Q,
    user_id: str | None,
    snapshot_kind: str,
    snapshot_fields: tuple[str, ...],
    audit_event_factory: Any,
) -> tuple[UpgradeResult, Any]:
    """Promote pending generations in scope to current, in one transaction.

    For each scope with a pending generation: its archived generation is
    deleted (a snapshot of each item is kept with the audit event), the current
    one becomes archived, and the pending one becomes current. Scopes without
    a pending generation are left alone, so nobody is left with nothing live.
    Two concurrent upgrades of the same scope serialise on the pending rows:
    the second finds nothing left to promote.

    `audit_event_factory(result)` is called inside the transaction to write the
    audit event; it returns the event.
    """
    generations = generation_model._default_manager
    items = item_model._default_manager
    with transaction.atomic():
        lock_scope(generation_model._meta.app_label, user_id)
        pending_ids = list(
            generations.select_for_update()
            .filter(scope, status=Status.PENDING)
            .values_list("pk", flat=True)
        )
        if not pending_ids:
            return UpgradeResult(), None
        pending = generations.filter(scope, status=Status.PENDING)
        users = pending.values("user_id").distinct().count()
        replaced = Q(scope) & Q(_same_scope(generation_model, Status.PENDING))
        archived_gens = generations.filter(replaced, status=Status.ARCHIVED)
        current_gens = generations.filter(replaced, status=Status.CURRENT)

        doomed = items.filter(generation__in=archived_gens)
        snapshot = list(doomed.values("pk", "user_id", *snapshot_fields))
        deleted = doomed.delete()[0]
        archived_gens.delete()
        archived = items.filter(generation__in=current_gens).update(
            status=Status.ARCHIVED
        )
        current_gens.update(status=Status.ARCHIVED, archived_by_downgrade=False)
        promoted = items.filter(generation__in=pending).update(status=Status.CURRENT)
        pending.update(status=Status.CURRENT)

        result = UpgradeResult(
            promoted=promoted,
            archived=archived,
            deleted=deleted,
            scopes=len(pending_ids),
            users=users,
        )
        event = audit_event_factory(result)
        if snapshot:
            DeletedItem.objects.bulk_create(
                [
                    DeletedItem(
                        audit_event=event,
                        kind=snapshot_kind,
                        item_id=str(row.pop("pk")),
                        user_id=row["user_id"],
                        data=row,
                    )
                    for row in snapshot
                ],
                batch_size=1000,
            )
    return result, event


def downgrade(
    *,
    generation_model: type[Model],
    item_model: type[Model],
    scope: Q,
    user_id: str | None,
    audit_event_factory: Any,
) -> tuple[DowngradeResult, Any]:
    """Undo an upgrade in scope: archived becomes current, current archived.

    Only scopes that have an archived generation change. Pending rows are
    never touched. What a downgrade archived is not restored by the next
    downgrade, so a second click changes nothing.
    """
    generations = generation_model._default_manager
    items = item_model._default_manager
    with transaction.atomic():
        lock_scope(generation_model._meta.app_label, user_id)
        restore_ids = list(
            generations.select_for_update()
            .filter(scope, status=Status.ARCHIVED, archived_by_downgrade=False)
            .values_list("pk", flat=True)
        )
        if not restore_ids:
            return DowngradeResult(), None
        restore = generations.filter(pk__in=restore_ids)
        users = restore.values("user_id").distinct().count()
        restorable = generations.filter(
            pk__in=restore_ids,
            **{f: OuterRef(f) for f in generation_model.SCOPE_FIELDS},
        )
        demote = generations.filter(
            Q(scope) & Q(Exists(restorable)), status=Status.CURRENT
        )
        demote_ids = list(demote.values_list("pk", flat=True))
        demoted = items.filter(generation_id__in=demote_ids).update(
            status=Status.ARCHIVED
        )
        generations.filter(pk__in=demote_ids).update(
            status=Status.ARCHIVED, archived_by_downgrade=True
        )
        restored = items.filter(generation_id__in=restore_ids).update(
            status=Status.CURRENT
        )
        restore.update(status=Status.CURRENT)
        result = DowngradeResult(
            restored=restored, demoted=demoted, scopes=len(restore_ids), users=users
        )
        event = audit_event_factory(result)
    return result, event
