"""Moving generations of knowledge between pending, current and archived.

Profiles and user playbooks share these rules; each app passes its own
generation and item models and a filter that names the scope.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import (
    BigIntegerField,
    Case,
    CharField,
    Count,
    Exists,
    F,
    Max,
    Model,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Cast, JSONObject

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
        # One round trip, family lock first: the OFFSET 0 subquery runs
        # before the outer call can, since that call needs its row.
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s) FROM "
            "(SELECT pg_advisory_xact_lock_shared(%s) OFFSET 0) AS family",
            [_advisory_key(f"{family}/{user_id}"), _advisory_key(family)],
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
        # The scope lock keeps every other writer of the scope out until
        # commit, so the old pending set is deleted without loading it.
        lock_scope(generation_model._meta.app_label, scope["user_id"])
        old = generation_model._default_manager.filter(status=Status.PENDING, **scope)
        _delete_set(item_model._default_manager.filter(generation__in=old))
        _delete_set(old)
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


def _delete_set(queryset: QuerySet[Any]) -> int:
    """Delete the rows of `queryset` with one statement, without loading them.

    Many-to-many links to those rows go first, the same way. Other cascades
    are the caller's business: `upgrade` deletes items before generations.
    """
    model = queryset.model
    ids = queryset.order_by().values("pk")
    for relation in model._meta.related_objects:
        if relation.many_to_many:
            through = relation.through  # type: ignore[attr-defined]
            link = relation.field.m2m_reverse_field_name()  # type: ignore[union-attr]
            through._default_manager.filter(**{f"{link}__in": ids}).delete()
    sql, params = ids.query.sql_with_params()
    table = connection.ops.quote_name(model._meta.db_table)
    column = connection.ops.quote_name(model._meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE {column} IN ({sql})", params)
        return cursor.rowcount


def _snapshot_into(
    event: Any, doomed: QuerySet[Any], kind: str, fields: tuple[str, ...]
) -> None:
    """Copy `doomed` items into DeletedItem rows with one INSERT ... SELECT."""
    rows = (
        doomed.order_by()
        .annotate(
            _event=Value(event.pk, output_field=BigIntegerField()),
            _kind=Value(kind, output_field=CharField()),
            _item=Cast("pk", CharField()),
            _user=F("user_id"),
            _data=JSONObject(**{name: F(name) for name in ("user_id", *fields)}),
        )
        .values_list("_event", "_kind", "_item", "_user", "_data")
    )
    sql, params = rows.query.sql_with_params()
    meta = DeletedItem._meta
    columns = ", ".join(
        connection.ops.quote_name(meta.get_field(name).column)
        for name in ("audit_event", "kind", "item_id", "user_id", "data")
    )
    table = connection.ops.quote_name(meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({columns}) {sql}", params)


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
    Two concurrent upgrades of the same scope serialise on `lock_scope`: the
    second finds nothing left to promote.

    Every step is one set-based statement, whatever the number of users: no
    row is loaded into Python. `audit_event_factory(result)` is called inside
    the transaction to write the audit event; it returns the event.
    """
    generations = generation_model._default_manager
    items = item_model._default_manager
    with transaction.atomic():
        lock_scope(generation_model._meta.app_label, user_id)
        if user_id is not None:
            return _upgrade_one_user(
                generation_model=generation_model,
                item_model=item_model,
                scope=scope,
                snapshot_kind=snapshot_kind,
                snapshot_fields=snapshot_fields,
                audit_event_factory=audit_event_factory,
            )
        pending = generations.filter(scope, status=Status.PENDING)
        # `status__in` every status: it lets the (status, user_id) index find
        # one user's generations instead of a scan of the whole table.
        replaced = generations.filter(
            Q(scope) & Q(_same_scope(generation_model, Status.PENDING)),
            status__in=Status.values,
        )
        # What each status holds, counted in one query before anything moves,
        # so that the audit event (which the snapshots point at) comes first.
        items_of = item_model._meta.get_field("generation").related_query_name()
        held = {
            row["status"]: row
            for row in replaced.order_by()
            .values("status")
            .annotate(
                scopes=Count("pk", distinct=True),
                users=Count("user_id", distinct=True),
                items=Count(items_of),
            )
        }
        if Status.PENDING not in held:
            return UpgradeResult(), None
        result = UpgradeResult(
            promoted=held[Status.PENDING]["items"],
            archived=held.get(Status.CURRENT, {}).get("items", 0),
            deleted=held.get(Status.ARCHIVED, {}).get("items", 0),
            scopes=held[Status.PENDING]["scopes"],
            users=held[Status.PENDING]["users"],
        )
        event = audit_event_factory(result)

        archived_gens = replaced.filter(status=Status.ARCHIVED)
        doomed = items.filter(generation__in=archived_gens)
        if result.deleted:
            _snapshot_into(event, doomed, snapshot_kind, snapshot_fields)
            _delete_set(doomed)
        _delete_set(archived_gens)
        current_gens = replaced.filter(status=Status.CURRENT)
        items.filter(generation__in=current_gens).update(status=Status.ARCHIVED)
        current_gens.update(status=Status.ARCHIVED, archived_by_downgrade=False)
        items.filter(generation__in=pending).update(status=Status.CURRENT)
        pending.update(status=Status.CURRENT)
    return result, event


def _upgrade_one_user(
    *,
    generation_model: type[Model],
    item_model: type[Model],
    scope: Q,
    snapshot_kind: str,
    snapshot_fields: tuple[str, ...],
    audit_event_factory: Any,
) -> tuple[UpgradeResult, Any]:
    """`upgrade` for a scope within one user, whose lock the caller holds.

    One user has a generation or three per extractor or playbook name, so
    they are read first, with their item counts, and every later statement
    names them by id: the same changes as the set-based path in fewer and
    simpler statements (this is the click on a user's review page).
    """
    generations = generation_model._default_manager
    items = item_model._default_manager
    scope_fields = generation_model.SCOPE_FIELDS  # type: ignore[attr-defined]
    items_of = item_model._meta.get_field("generation").related_query_name()
    rows = (
        generations.filter(scope, status__in=Status.values)
        .annotate(held=Count(items_of))
        .values("pk", "status", "held", *scope_fields)
    )
    by_scope: dict[tuple[Any, ...], dict[str, tuple[int, int]]] = {}
    for row in rows:
        key = tuple(row[field] for field in scope_fields)
        by_scope.setdefault(key, {})[row["status"]] = (row["pk"], row["held"])
    moving = [held for held in by_scope.values() if Status.PENDING in held]
    if not moving:
        return UpgradeResult(), None

    def of(status: str) -> tuple[list[int], int]:
        found = [held[status] for held in moving if status in held]
        return [pk for pk, _ in found], sum(count for _, count in found)

    pending_ids, promoted = of(Status.PENDING)
    current_ids, archived = of(Status.CURRENT)
    archived_ids, deleted = of(Status.ARCHIVED)
    result = UpgradeResult(
        promoted=promoted,
        archived=archived,
        deleted=deleted,
        scopes=len(pending_ids),
        users=1,
    )
    event = audit_event_factory(result)

    if deleted:
        doomed = items.filter(generation_id__in=archived_ids)
        _snapshot_into(event, doomed, snapshot_kind, snapshot_fields)
        _delete_set(doomed)
    if archived_ids:
        _delete_set(generations.filter(pk__in=archived_ids))
    # Items have no unique status, so both moves are one statement; the
    # generations move in order, since a scope may hold one current at a time.
    items.filter(generation_id__in=current_ids + pending_ids).update(
        status=Case(
            When(generation_id__in=current_ids, then=Value(Status.ARCHIVED)),
            default=Value(Status.CURRENT),
        )
    )
    if current_ids:
        generations.filter(pk__in=current_ids).update(
            status=Status.ARCHIVED, archived_by_downgrade=False
        )
    generations.filter(pk__in=pending_ids).update(status=Status.CURRENT)
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
