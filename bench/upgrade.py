"""Upgrades, against the same status changes written by hand in SQL.

The baseline runs on copies of the profile tables made in the same run:
`CREATE TABLE ... (LIKE ... INCLUDING ALL)` (so the copies have the same
indexes), the same rows, the same deferred foreign key from item to
generation, VACUUM ANALYZE. The hand-written statements are the least any
implementation must do: delete the archived items and generations of every
scope with a pending generation, archive its current ones, promote the
pending ones. The product's upgrade does that, plus the locks, the counts
and the audit trail (the audit event and a snapshot of every deleted item).

Each measured call commits, and deferred constraints are checked at commit,
so both sides pay for everything. A CHECKPOINT before each large step keeps
one side from paying for the other's dirty pages.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.db import connection, transaction

from bench import seed
from bench.report import Row, median, p95
from bench.sizes import Size

ALL_USERS_RATIO = 1.3
ONE_USER_P95_MS = 20.0
BATCH_SECONDS = 0.3
BATCH_REPEATS = 5

GEN_COPY = "bench_copy_profilegeneration"
ITEM_COPY = "bench_copy_userprofile"

# The scope clauses of the three kinds of upgrade measured, on a generation
# row aliased `g`.
SCOPE_ALL = "TRUE"
SCOPE_USER = "g.user_id = %(user_id)s"
SCOPE_BATCH = "g.extractor_name = %(extractor)s"


def _hand_statements(scope: str) -> list[str]:
    """The status changes of an upgrade of `scope`, on the copies."""
    replaced = f"""
        {scope} AND EXISTS (
            SELECT 1 FROM {GEN_COPY} p
            WHERE p.status = 'pending' AND p.user_id = g.user_id
              AND p.extractor_name = g.extractor_name
        )
    """
    return [
        f"""
        DELETE FROM {ITEM_COPY} i USING {GEN_COPY} g
        WHERE i.generation_id = g.id AND g.status = 'archived' AND {replaced}
        """,
        f"DELETE FROM {GEN_COPY} g WHERE g.status = 'archived' AND {replaced}",
        f"""
        UPDATE {ITEM_COPY} i SET status = 'archived' FROM {GEN_COPY} g
        WHERE i.generation_id = g.id AND g.status = 'current' AND {replaced}
        """,
        f"""
        UPDATE {GEN_COPY} g SET status = 'archived', archived_by_downgrade = false
        WHERE g.status = 'current' AND {replaced}
        """,
        f"""
        UPDATE {ITEM_COPY} i SET status = 'current' FROM {GEN_COPY} g
        WHERE i.generation_id = g.id AND g.status = 'pending' AND {scope}
        """,
        f"UPDATE {GEN_COPY} g SET status = 'current' WHERE g.status = 'pending' "
        f"AND {scope}",
    ]


def _hand_upgrade(scope: str, params: dict[str, str]) -> float:
    """Seconds to run the hand-written upgrade of `scope` and commit it."""
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        for statement in _hand_statements(scope):
            cursor.execute(statement, params)
    return time.perf_counter() - started


def _execute(*statements: str) -> None:
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def make_copies() -> None:
    """Copy the profile tables, indexes and item-to-generation key included."""
    _execute(
        f"DROP TABLE IF EXISTS {ITEM_COPY}, {GEN_COPY}",
        f"CREATE TABLE {GEN_COPY} (LIKE profiles_profilegeneration INCLUDING ALL)",
        f"CREATE TABLE {ITEM_COPY} (LIKE profiles_userprofile INCLUDING ALL)",
        f"INSERT INTO {GEN_COPY} SELECT * FROM profiles_profilegeneration",
        f"INSERT INTO {ITEM_COPY} SELECT * FROM profiles_userprofile",
        f"""
        ALTER TABLE {ITEM_COPY} ADD CONSTRAINT {ITEM_COPY}_generation_fk
        FOREIGN KEY (generation_id) REFERENCES {GEN_COPY} (id)
        DEFERRABLE INITIALLY DEFERRED NOT VALID
        """,
    )
    _execute(
        f"VACUUM (ANALYZE) {GEN_COPY}",
        f"VACUUM (ANALYZE) {ITEM_COPY}",
    )


def drop_copies() -> None:
    _execute(f"DROP TABLE IF EXISTS {ITEM_COPY}, {GEN_COPY}")


def _restore_batch_copy() -> None:
    """Put the batch group's rows of the copies back as they were seeded."""
    extractor = seed.BATCH_EXTRACTOR
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {ITEM_COPY} WHERE extractor_name = %s", [extractor]
        )
        cursor.execute(f"DELETE FROM {GEN_COPY} WHERE extractor_name = %s", [extractor])
        cursor.execute(
            f"INSERT INTO {GEN_COPY} SELECT * FROM profiles_profilegeneration "
            "WHERE extractor_name = %s",
            [extractor],
        )
        cursor.execute(
            f"INSERT INTO {ITEM_COPY} SELECT * FROM profiles_userprofile "
            "WHERE extractor_name = %s",
            [extractor],
        )


def _restore_batch(size: Size) -> None:
    """Seed the batch group's profiles again and forget their audit trail."""
    extractor = seed.BATCH_EXTRACTOR
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM profiles_userprofile WHERE extractor_name = %s", [extractor]
        )
        cursor.execute(
            "DELETE FROM profiles_profilegeneration WHERE extractor_name = %s",
            [extractor],
        )
        for sql, params in seed.batch_statements(size, 0, size.batch_users):
            cursor.execute(sql, params)
    _forget_audit()


def _forget_audit() -> None:
    """Drop the audit events (and snapshots) the benchmark upgrades wrote."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM reflexio_admin_deleteditem WHERE audit_event_id IN "
            "(SELECT id FROM reflexio_admin_auditevent WHERE action = %s)",
            ["upgrade_profiles"],
        )
        cursor.execute(
            "DELETE FROM reflexio_admin_auditevent WHERE action = %s",
            ["upgrade_profiles"],
        )


def _checkpoint() -> None:
    _execute("CHECKPOINT")


def one_user_users(size: Size) -> list[str]:
    """Users for single-user upgrades, clear of the other benchmarks' users."""
    first = 2 * size.rerun_users + 100
    step = max(1, (size.users - first) // (size.one_user_upgrades + 1))
    return [seed.user_id(first + i * step) for i in range(size.one_user_upgrades)]


def measure(size: Size, log: Callable[[str], None]) -> list[Row]:
    from profiles import services

    users = one_user_users(size)
    log("upgrade: copying the profile tables for the hand-written baseline")
    make_copies()
    try:
        # Baselines first, on the copies.
        hand_one = [
            _hand_upgrade(SCOPE_USER, {"user_id": user}) * 1000 for user in users
        ]
        hand_batch = []
        for _ in range(BATCH_REPEATS):
            _checkpoint()
            hand_batch.append(
                _hand_upgrade(SCOPE_BATCH, {"extractor": seed.BATCH_EXTRACTOR})
            )
            _restore_batch_copy()
        _checkpoint()
        hand_all = _hand_upgrade(SCOPE_ALL, {})
        log(f"upgrade: hand-written SQL, every user: {hand_all:.2f} s")
    finally:
        drop_copies()

    # The product, on the real tables; they are seeded again afterwards.
    seed.mark_dirty("profiles")
    one = []
    for user in users:
        started = time.perf_counter()
        result = services.upgrade_profiles(user_id=user)
        one.append((time.perf_counter() - started) * 1000)
        if result.promoted != 4:
            raise RuntimeError(f"upgrade of {user} promoted {result.promoted}, not 4")
    batch = []
    batch_result = None
    for _ in range(BATCH_REPEATS):
        _checkpoint()
        started = time.perf_counter()
        batch_result = services.upgrade_profiles(extractor_name=seed.BATCH_EXTRACTOR)
        batch.append(time.perf_counter() - started)
        _restore_batch(size)
    _checkpoint()
    started = time.perf_counter()
    everyone = services.upgrade_profiles()
    real_all = time.perf_counter() - started
    log(
        f"upgrade: product, every user: {real_all:.2f} s "
        f"({everyone.users:,} users, {everyone.promoted:,} promoted, "
        f"{everyone.archived:,} archived, {everyone.deleted:,} deleted)"
    )

    assert batch_result is not None
    return [
        Row(
            group="upgrade",
            name=f"every user with pending profiles ({everyone.users:,} users)",
            target=f"<= {ALL_USERS_RATIO}x hand SQL",
            measured=real_all,
            unit="s",
            baseline=hand_all,
            baseline_name="hand SQL on a copy",
            passed=real_all <= ALL_USERS_RATIO * hand_all,
            notes=f"{everyone.promoted:,} promoted, {everyone.archived:,} "
            f"archived, {everyone.deleted:,} deleted and snapshotted",
            extra={
                "users": everyone.users,
                "promoted": everyone.promoted,
                "archived": everyone.archived,
                "deleted": everyone.deleted,
            },
        ),
        Row(
            group="upgrade",
            name="one user (4 pending, 4 current, 2 archived)",
            target=f"p95 <= {ONE_USER_P95_MS:.0f} ms",
            measured=p95(one),
            unit="ms",
            baseline=p95(hand_one),
            baseline_name="hand SQL p95",
            passed=p95(one) <= ONE_USER_P95_MS,
            notes=f"{len(one)} users, median {median(one):.1f} ms",
        ),
        Row(
            group="upgrade",
            name=(
                f"{batch_result.promoted:,} pending + {batch_result.archived:,} "
                f"current profiles of {batch_result.users:,} users"
            ),
            target=f"<= {BATCH_SECONDS} s",
            measured=median(batch),
            unit="s",
            baseline=median(hand_batch),
            baseline_name="hand SQL median",
            passed=median(batch) <= BATCH_SECONDS,
            notes=f"median of {BATCH_REPEATS}, slowest {max(batch):.2f} s",
        ),
    ]
