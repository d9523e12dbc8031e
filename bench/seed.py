"""Seed the synthetic data set with set-based SQL, and restore parts of it.

Rows are made by `INSERT ... SELECT generate_series` inside PostgreSQL, so
nothing travels over the connection but the statements. Each *part* (the
conversations, the profiles, the playbooks) is seeded in one transaction:
truncate, drop the secondary indexes, insert, build the indexes again, record
the part in `bench_dataset`. A crash rolls all of it back. A part is seeded
again only when its record is missing or was made for another size or another
version of this file; benchmarks that change a part delete its record first
and restore it when they are done.

Ids are a function of the user number `k` (0-based; user ids are `u000000`
...), so any range of users can be deleted and seeded again exactly.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction

from bench.sizes import Size

logger = logging.getLogger(__name__)

SEED_VERSION = "4"
BASE_TIME = "2025-01-01T00:00:00+00:00"
PROFILE_EXTRACTOR = "default_profile_extractor"
BATCH_EXTRACTOR = "bench_batch"
PLAYBOOK_NAME = "default_playbook_extractor"
OTHER_PLAYBOOK_NAME = "bench_playbook"
AGENT_VERSIONS = ("v1", "v2", "v3", "v4", "v5")
REVIEW_USER = "review-user"
REVIEW_FACTS = 50
# Words the text filters of the list pages search for (about 5% of rows).
PROFILE_TERM = "metric"
PLAYBOOK_TERM = "refund"

USER_LINES = [
    "I work night shifts at the hospital.",
    "I prefer metric units.",
    "I am allergic to peanuts.",
    "I live in Lisbon.",
    "I drink green tea every morning.",
    "I prefer short answers.",
    "I am vegetarian.",
    "I play chess on weekends.",
    "I work as a nurse.",
    "I prefer email over phone calls.",
    "I have two daughters.",
    "I speak Portuguese and English.",
    "I run every morning before work.",
    "I prefer window seats on flights.",
    "I am learning to play the piano.",
    "I work remotely on Fridays.",
    "I live with my partner and a cat.",
    "I prefer paying by card.",
    "I cycle to the office.",
    "I am training for a marathon.",
]
ASSISTANT_LINE = "Thanks, I will keep that in mind."
PROFILE_VERBS = [
    "Works night shifts near",
    "Prefers metric units when visiting",
    "Is allergic to pollen from",
    "Lives near",
    "Drinks coffee in",
    "Plays chess with friends from",
    "Works as a nurse in",
    "Prefers email about trips to",
    "Reads novels set in",
    "Travels often to",
    "Cooks dinner inspired by",
    "Runs every morning in",
    "Studies French to move to",
    "Owns a dog adopted in",
    "Volunteers at a shelter in",
    "Commutes by bike through",
    "Collects stamps from",
    "Listens to jazz recorded in",
    "Grows tomatoes like those of",
    "Writes poetry about",
]
PLACES = [
    "Lisbon", "Porto", "Berlin", "Munich", "Paris", "Lyon", "Madrid", "Seville",
    "Rome", "Milan", "Vienna", "Prague", "Warsaw", "Krakow", "Oslo", "Bergen",
    "Stockholm", "Helsinki", "Tallinn", "Riga", "Vilnius", "Dublin", "Cork",
    "London", "Leeds", "Glasgow", "Cardiff", "Brussels", "Ghent", "Amsterdam",
    "Utrecht", "Zurich", "Geneva", "Basel", "Athens", "Sofia", "Bucharest",
    "Budapest", "Zagreb", "Ljubljana", "Istanbul", "Ankara", "Cairo", "Tunis",
    "Casablanca", "Nairobi", "Accra", "Lagos", "Dakar", "Kigali",
]  # fmt: skip
TOPICS = [
    "refunds", "delivery times", "password resets", "invoices", "discounts",
    "opening hours", "returns", "warranty", "shipping costs", "gift cards",
    "account deletion", "newsletters", "order tracking", "payment methods",
    "size guides", "store locations", "loyalty points", "price matching",
    "damaged items", "subscriptions",
]  # fmt: skip
STYLES = [
    "in two sentences", "with a bulleted list", "with the policy number first",
    "politely and briefly", "with a link to the help page", "in plain words",
    "with the next step first", "with an apology first", "with an example",
    "with the exact dates",
]  # fmt: skip


def user_id(k: int) -> str:
    return f"u{k:06d}"


Statement = tuple[str, dict[str, Any]]


def _params(size: Size, lo: int, hi: int, **extra: Any) -> dict[str, Any]:
    return {"lo": lo, "hi": hi, "base": BASE_TIME, "users": size.users, **extra}


# Conversations: 5 requests of 4 turns per user, one second apart; user k's
# turns fill seconds [20k, 20k + 20) after BASE_TIME, so a time window
# selects a range of users.


def conversation_statements(size: Size, lo: int, hi: int) -> list[Statement]:
    params = _params(size, lo, hi, lines=USER_LINES, answer=ASSISTANT_LINE)
    requests = """
        INSERT INTO reflexio_admin_request
            (id, request_id, user_id, source, agent_version, session_id, created_at)
        SELECT k * 5 + r + 1,
               'bench-' || (k * 5 + r + 1),
               'u' || lpad(k::text, 6, '0'),
               CASE WHEN r = 4 THEN 'email' ELSE 'chat' END,
               'v' || (mod(k, 5) + 1),
               'bench-' || k || '-' || (r / 3),
               %(base)s::timestamptz + make_interval(secs => k * 20 + r * 4)
        FROM generate_series(%(lo)s, %(hi)s - 1) AS k
        CROSS JOIN LATERAL generate_series(0, 4) AS r
    """
    interactions = """
        INSERT INTO reflexio_admin_interaction
            (id, request_id, user_id, source, agent_version, role, content,
             tools_used, created_at)
        SELECT (k * 5 + r) * 4 + t + 1,
               k * 5 + r + 1,
               'u' || lpad(k::text, 6, '0'),
               CASE WHEN r = 4 THEN 'email' ELSE 'chat' END,
               'v' || (mod(k, 5) + 1),
               CASE WHEN mod(t, 2) = 0 THEN 'User' ELSE 'Assistant' END,
               CASE WHEN mod(t, 2) = 0
                    THEN (%(lines)s::text[])[
                        1 + mod(k * 7 + r * 2 + t / 2, cardinality(%(lines)s::text[]))]
                    ELSE %(answer)s END,
               '[]'::jsonb,
               %(base)s::timestamptz + make_interval(secs => k * 20 + r * 4 + t)
        FROM generate_series(%(lo)s, %(hi)s - 1) AS k
        CROSS JOIN LATERAL generate_series(0, 4) AS r
        CROSS JOIN LATERAL generate_series(0, 3) AS t
    """
    return [(requests, params), (interactions, params)]


def rerun_window(size: Size) -> tuple[str, str, int, int]:
    """A time window holding every turn of `size.rerun_users` users, no other.

    The users are the second block of that many (the first block holds the
    batch-upgrade group), as (start, end, first user, last user + 1).
    """
    from datetime import datetime, timedelta

    first = size.rerun_users
    last = 2 * size.rerun_users
    base = datetime.fromisoformat(BASE_TIME)
    start = base + timedelta(seconds=first * 20)
    end = base + timedelta(seconds=last * 20 - 1)
    return start.isoformat(), end.isoformat(), first, last


# Profiles. Every user: a current generation (4 facts), a pending one (4) and
# an archived one (2) of the default extractor; generation ids 3k+1..3k+3,
# profile ids 10k+1..10k+10. Users below `batch_users` also hold a current
# (10) and a pending (10) generation of `bench_batch`, after those ranges.


def profile_statements(size: Size, lo: int, hi: int) -> list[Statement]:
    params = _params(
        size,
        lo,
        hi,
        extractor=PROFILE_EXTRACTOR,
        verbs=PROFILE_VERBS,
        places=PLACES,
    )
    generations = """
        INSERT INTO profiles_profilegeneration
            (id, status, created_at, current_digest, last_interaction_id, user_id,
             extractor_name, operation_id, archived_by_downgrade)
        SELECT k * 3 + s + 1,
               (ARRAY['current', 'pending', 'archived'])[s + 1],
               %(base)s::timestamptz + make_interval(secs => k * 20 + s),
               '', (k * 5 + 4) * 4 + 4,
               'u' || lpad(k::text, 6, '0'), %(extractor)s, NULL, false
        FROM generate_series(%(lo)s, %(hi)s - 1) AS k
        CROSS JOIN LATERAL generate_series(0, 2) AS s
    """
    profiles = """
        INSERT INTO profiles_userprofile
            (id, status, content, source, source_interaction_ids, request_id,
             embedding, created_at, modified_at, profile_id, user_id,
             extractor_name, time_to_live, expires_at, custom_features,
             generation_id, operation_id)
        SELECT k * 10 + j + 1,
               (ARRAY['current', 'pending', 'archived'])[g + 1],
               (%(verbs)s::text[])[1 + mod(k + j * 3, cardinality(%(verbs)s::text[]))]
                 || ' '
                 || (%(places)s::text[])[
                        1 + mod(k * 7 + j, cardinality(%(places)s::text[]))],
               CASE WHEN mod(k + j, 5) = 0 THEN 'email' ELSE 'chat' END,
               '[]'::jsonb, '', NULL,
               %(base)s::timestamptz + make_interval(secs => k * 20 + j),
               %(base)s::timestamptz + make_interval(secs => k * 20 + j),
               'bench-p' || (k * 10 + j + 1),
               'u' || lpad(k::text, 6, '0'), %(extractor)s, 'infinity',
               NULL, NULL, k * 3 + g + 1, NULL
        FROM generate_series(%(lo)s, %(hi)s - 1) AS k
        CROSS JOIN LATERAL generate_series(0, 9) AS j
        CROSS JOIN LATERAL (
            SELECT CASE WHEN j < 4 THEN 0 WHEN j < 8 THEN 1 ELSE 2 END AS g
        ) AS generation
    """
    return [(generations, params), (profiles, params)]


def batch_statements(size: Size, lo: int, hi: int) -> list[Statement]:
    params = _params(
        size,
        lo,
        hi,
        extractor=BATCH_EXTRACTOR,
        verbs=PROFILE_VERBS,
        places=PLACES,
        gen_offset=3 * size.users,
        item_offset=10 * size.users,
    )
    generations = """
        INSERT INTO profiles_profilegeneration
            (id, status, created_at, current_digest, last_interaction_id, user_id,
             extractor_name, operation_id, archived_by_downgrade)
        SELECT %(gen_offset)s + k * 2 + s + 1,
               (ARRAY['current', 'pending'])[s + 1],
               %(base)s::timestamptz + make_interval(secs => k * 20 + s),
               '', NULL, 'u' || lpad(k::text, 6, '0'), %(extractor)s, NULL, false
        FROM generate_series(%(lo)s, %(hi)s - 1) AS k
        CROSS JOIN LATERAL generate_series(0, 1) AS s
    """
    profiles = """
        INSERT INTO profiles_userprofile
            (id, status, content, source, source_interaction_ids, request_id,
             embedding, created_at, modified_at, profile_id, user_id,
             extractor_name, time_to_live, expires_at, custom_features,
             generation_id, operation_id)
        SELECT %(item_offset)s + k * 20 + j + 1,
               CASE WHEN j < 10 THEN 'current' ELSE 'pending' END,
               (%(verbs)s::text[])[1 + mod(k + j, cardinality(%(verbs)s::text[]))]
                 || ' '
                 || (%(places)s::text[])[
                        1 + mod(k * 3 + j, cardinality(%(places)s::text[]))],
               'chat', '[]'::jsonb, '', NULL,
               %(base)s::timestamptz + make_interval(secs => k * 20 + j),
               %(base)s::timestamptz + make_interval(secs => k * 20 + j),
               'bench-b' || (%(item_offset)s + k * 20 + j + 1),
               'u' || lpad(k::text, 6, '0'), %(extractor)s, 'infinity',
               NULL, NULL, %(gen_offset)s + k * 2 + (j / 10) + 1, NULL
        FROM generate_series(%(lo)s, %(hi)s - 1) AS k
        CROSS JOIN LATERAL generate_series(0, 19) AS j
    """
    return [(generations, params), (profiles, params)]


# Playbooks: 2 user playbooks per user, of agent version v1..v5 by user;
# the first current, the second pending (even users) or archived (odd).
# A third of the users learn under a second playbook name. Agent playbooks
# link to 3 current user playbooks of their agent version.


def playbook_statements(size: Size, lo: int, hi: int) -> list[Statement]:
    params = _params(
        size,
        lo,
        hi,
        name=PLAYBOOK_NAME,
        other=OTHER_PLAYBOOK_NAME,
        topics=TOPICS,
        styles=STYLES,
    )
    status = "CASE WHEN j = 0 THEN 'current' WHEN mod(k, 2) = 0 THEN 'pending' "
    status += "ELSE 'archived' END"
    name = "CASE WHEN mod(k, 3) = 0 THEN %(other)s ELSE %(name)s END"
    generations = f"""
        INSERT INTO playbooks_playbookgeneration
            (id, status, created_at, current_digest, last_interaction_id, user_id,
             agent_version, playbook_name, operation_id, archived_by_downgrade)
        SELECT k * 2 + j + 1, {status},
               %(base)s::timestamptz + make_interval(secs => k * 20 + j),
               '', NULL, 'u' || lpad(k::text, 6, '0'), 'v' || (mod(k, 5) + 1),
               {name}, NULL, false
        FROM generate_series(%(lo)s, %(hi)s - 1) AS k
        CROSS JOIN LATERAL generate_series(0, 1) AS j
    """
    # k / 2: the topic must not follow k mod 2, which picks the status.
    topic = (
        "(%(topics)s::text[])[1 + mod(k / 2 + j * 7, cardinality(%(topics)s::text[]))]"
    )
    playbooks = f"""
        INSERT INTO playbooks_userplaybook
            (id, status, content, source, source_interaction_ids, request_id,
             embedding, created_at, modified_at, user_id, agent_version,
             playbook_name, trigger, rationale, generation_id, operation_id)
        SELECT k * 2 + j + 1, {status},
               'Answer '
                 || (%(styles)s::text[])[
                        1 + mod(k / 2 + j * 3, cardinality(%(styles)s::text[]))]
                 || ' when asked about ' || {topic},
               'chat', '[]'::jsonb, '', NULL,
               %(base)s::timestamptz + make_interval(secs => k * 20 + j),
               %(base)s::timestamptz + make_interval(secs => k * 20 + j),
               'u' || lpad(k::text, 6, '0'), 'v' || (mod(k, 5) + 1), {name},
               'When the user asks about ' || {topic},
               'The user asked twice before.', k * 2 + j + 1, NULL
        FROM generate_series(%(lo)s, %(hi)s - 1) AS k
        CROSS JOIN LATERAL generate_series(0, 1) AS j
    """
    return [(generations, params), (playbooks, params)]


def agent_playbook_statements(size: Size) -> list[Statement]:
    params = {
        "count": size.agent_playbooks,
        "per_version": max(1, size.users // 5),
        "base": BASE_TIME,
        "name": PLAYBOOK_NAME,
        "other": OTHER_PLAYBOOK_NAME,
        "topics": TOPICS,
        "styles": STYLES,
    }
    # Approval follows a mod 10; version, name, topic and style follow
    # independent hashes of a, so that no filter combination comes out empty.
    version = "mod(abs(hashtext('v' || a)), 5)"
    topic = (
        "(%(topics)s::text[])[1 + mod(abs(hashtext('t' || a)), "
        "cardinality(%(topics)s::text[]))]"
    )
    style = (
        "(%(styles)s::text[])[1 + mod(abs(hashtext('s' || a)), "
        "cardinality(%(styles)s::text[]))]"
    )
    # User k = m * 5 + version has user playbooks of that agent version.
    source = f"(mod(a * 3 + i, %(per_version)s) * 5 + {version}) * 2 + 1"
    agent = f"""
        INSERT INTO playbooks_agentplaybook
            (id, agent_version, playbook_name, trigger, content, rationale,
             approval, source_user_playbook_ids, reviewed_at, embedding,
             created_at, modified_at, operation_id, reviewed_by_id)
        SELECT a + 1, 'v' || ({version} + 1),
               CASE WHEN mod(abs(hashtext('n' || a)), 2) = 0
                    THEN %(name)s ELSE %(other)s END,
               'When the user asks about ' || {topic},
               'Answer ' || {style} || ' about ' || {topic},
               'Seen in many conversations.',
               CASE WHEN mod(a, 10) < 5 THEN 'pending'
                    WHEN mod(a, 10) < 8 THEN 'approved' ELSE 'rejected' END,
               (SELECT jsonb_agg({source} ORDER BY i) FROM generate_series(0, 2) AS i),
               NULL, NULL,
               %(base)s::timestamptz + make_interval(secs => a),
               %(base)s::timestamptz + make_interval(secs => a), NULL, NULL
        FROM generate_series(0, %(count)s - 1) AS a
    """
    links = f"""
        INSERT INTO playbooks_agentplaybook_user_playbooks
            (agentplaybook_id, userplaybook_id)
        SELECT a + 1, {source}
        FROM generate_series(0, %(count)s - 1) AS a
        CROSS JOIN LATERAL generate_series(0, 2) AS i
    """
    return [(agent, params), (links, params)]


# Parts


@dataclass(frozen=True)
class Part:
    name: str
    tables: tuple[str, ...]
    statements: Callable[[Size], list[Statement]]
    after: Callable[[Size], None] | None = None


def _conversations(size: Size) -> list[Statement]:
    return conversation_statements(size, 0, size.users)


def _profiles(size: Size) -> list[Statement]:
    return profile_statements(size, 0, size.users) + batch_statements(
        size, 0, size.batch_users
    )


def _playbooks(size: Size) -> list[Statement]:
    return playbook_statements(size, 0, size.users) + agent_playbook_statements(size)


PROFILE_TABLES = (
    "profiles_userprofile",
    "profiles_profilegeneration",
    "reflexio_admin_deleteditem",
)
PARTS = (
    Part(
        "conversations",
        ("reflexio_admin_interaction", "reflexio_admin_request"),
        _conversations,
    ),
    Part("profiles", PROFILE_TABLES, _profiles),
    Part(
        "playbooks",
        (
            "playbooks_agentplaybook_user_playbooks",
            "playbooks_agentplaybook",
            "playbooks_userplaybook",
            "playbooks_playbookgeneration",
        ),
        _playbooks,
    ),
)
PART_BY_NAME = {part.name: part for part in PARTS}


def _spec(part: Part, size: Size) -> str:
    text = repr((SEED_VERSION, size, part.tables, part.statements(size)))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _ensure_marker_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE TABLE IF NOT EXISTS bench_dataset (
                part text PRIMARY KEY,
                size text NOT NULL,
                spec text NOT NULL,
                seconds double precision NOT NULL,
                seeded_at timestamptz NOT NULL DEFAULT now()
            )
            """
        )


def is_seeded(part: Part, size: Size) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM bench_dataset WHERE part = %s AND size = %s AND spec = %s",
            [part.name, size.name, _spec(part, size)],
        )
        return cursor.fetchone() is not None


def mark_dirty(part_name: str) -> None:
    """Forget that a part is seeded: a benchmark is about to change it."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM bench_dataset WHERE part = %s", [part_name])


def _secondary_indexes(cursor: Any, table: str) -> list[tuple[str, str]]:
    """(name, definition) of the indexes of `table` that back no constraint."""
    cursor.execute(
        """
        SELECT c.relname, pg_get_indexdef(i.indexrelid)
        FROM pg_index i
        JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = %s::regclass
          AND NOT EXISTS (
              SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid
          )
        ORDER BY c.relname
        """,
        [table],
    )
    return list(cursor.fetchall())


def _is_superuser(cursor: Any) -> bool:
    cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    row = cursor.fetchone()
    return bool(row and row[0])


def _reset_sequence(cursor: Any, table: str) -> None:
    cursor.execute(
        f"SELECT setval(pg_get_serial_sequence(%s, 'id'), "
        f"coalesce((SELECT max(id) FROM {table}), 0) + 1, false)",
        [table],
    )


def seed_part(part: Part, size: Size) -> float:
    """Seed one part from scratch in one transaction; return the seconds taken."""
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM bench_dataset WHERE part = %s", [part.name])
        cursor.execute("SET LOCAL synchronous_commit = off")
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        if _is_superuser(cursor):
            # Skip the per-row foreign key triggers: the ids are consistent
            # by construction, and checking 2M rows one by one takes minutes.
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(f"TRUNCATE {', '.join(part.tables)}")
        indexes = []
        for table in part.tables:
            for name, definition in _secondary_indexes(cursor, table):
                indexes.append(definition)
                cursor.execute(f'DROP INDEX "{name}"')
        for sql, params in part.statements(size):
            cursor.execute(sql, params)
        for definition in indexes:
            cursor.execute(definition)
        for table in part.tables:
            _reset_sequence(cursor, table)
        if part.name == "profiles":
            seed_review_user()
        seconds = time.perf_counter() - started
        cursor.execute(
            "INSERT INTO bench_dataset (part, size, spec, seconds) "
            "VALUES (%s, %s, %s, %s)",
            [part.name, size.name, _spec(part, size), seconds],
        )
    vacuum(part.tables)
    return time.perf_counter() - started


def vacuum(tables: tuple[str, ...]) -> None:
    """VACUUM ANALYZE: fresh statistics and a visibility map for index-only scans."""
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM (ANALYZE) {table}")


def ensure_config() -> None:
    """The extractors and settings the data set refers to."""
    from playbooks.models import PlaybookExtractor
    from profiles.models import ProfileExtractor
    from reflexio_admin.models import GenerationSettings

    ProfileExtractor.objects.get_or_create(
        name=BATCH_EXTRACTOR,
        defaults={
            "definition_prompt": "Facts for the batch upgrade benchmark.",
            "enabled": False,
            "allow_manual_trigger": False,
        },
    )
    PlaybookExtractor.objects.get_or_create(
        name=OTHER_PLAYBOOK_NAME,
        defaults={
            "definition_prompt": "Rules for the playbook list benchmarks.",
            "enabled": False,
            "allow_manual_trigger": False,
        },
    )
    config = GenerationSettings.load()
    config.batch_size = 10
    config.batch_interval = 10
    config.save()


def seed(size: Size, *, reseed: bool, report: Callable[[str], None]) -> float:
    """Seed every part that is missing; return the seconds spent seeding."""
    _ensure_marker_table()
    ensure_config()
    total = 0.0
    for part in PARTS:
        if not reseed and is_seeded(part, size):
            continue
        report(f"seeding {part.name} ({size.name})...")
        seconds = seed_part(part, size)
        report(f"seeded {part.name} in {seconds:.1f} s")
        total += seconds
    return total


def restore(part_name: str, size: Size, report: Callable[[str], None]) -> float:
    """Seed a part again after benchmarks changed it."""
    part = PART_BY_NAME[part_name]
    report(f"restoring {part.name}...")
    seconds = seed_part(part, size)
    report(f"restored {part.name} in {seconds:.1f} s")
    return seconds


# The review user: 50 current facts and a pending set of 50 that keeps 30,
# rewords 10 and adds 10, with stored embeddings as a rerun would leave them.


def _review_facts() -> tuple[list[str], list[str]]:
    current = [
        f"{PROFILE_VERBS[i % len(PROFILE_VERBS)]} {PLACES[(i * 7) % len(PLACES)]}"
        for i in range(REVIEW_FACTS)
    ]
    pending = current[:30]
    pending += [f"Often {text[0].lower()}{text[1:]}" for text in current[30:40]]
    for i in range(REVIEW_FACTS - len(pending)):
        verb = PROFILE_VERBS[(i * 3) % len(PROFILE_VERBS)]
        pending.append(f"{verb} {PLACES[(i * 11) % len(PLACES)]} since {2000 + i}")
    return current, pending


def seed_review_user() -> None:
    from profiles.models import ProfileGeneration, UserProfile
    from reflexio_admin.offline_llm import embed_text
    from reflexio_admin.status import Status

    current, pending = _review_facts()
    for status, texts in ((Status.CURRENT, current), (Status.PENDING, pending)):
        generation = ProfileGeneration.objects.create(
            status=status, user_id=REVIEW_USER, extractor_name=PROFILE_EXTRACTOR
        )
        UserProfile.objects.bulk_create(
            UserProfile(
                status=status,
                content=text,
                source="chat",
                user_id=REVIEW_USER,
                extractor_name=PROFILE_EXTRACTOR,
                generation=generation,
                embedding=embed_text(text),
            )
            for text in texts
        )
