"""Trigram indexes for the text filters of the playbook lists (PostgreSQL only).

`content__icontains` and `trigger__icontains` compile to
`UPPER(column::text) LIKE UPPER(%s)`, so the indexes are on UPPER(column).
On other databases this migration does nothing.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

INDEXES = [
    ("playbooks_userplaybook", "playbooks_userplaybook_content_trgm", "content"),
    ("playbooks_userplaybook", "playbooks_userplaybook_trigger_trgm", "trigger"),
    ("playbooks_agentplaybook", "playbooks_agentplaybook_content_trgm", "content"),
    ("playbooks_agentplaybook", "playbooks_agentplaybook_trigger_trgm", "trigger"),
]


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, name, column in INDEXES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} "
            f"USING gin (UPPER({column}) gin_trgm_ops)"
        )
    # Statistics of the indexed expression tell the planner rare words from
    # common ones; without them it guesses and may read every match.
    for table in sorted({table for table, _, _ in INDEXES}):
        schema_editor.execute(f"ANALYZE {table}")


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for _, name, _ in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("playbooks", "0003_archived_by_downgrade")]

    operations = [
        TrigramExtension(),
        migrations.RunPython(create_indexes, drop_indexes, elidable=False),
    ]
