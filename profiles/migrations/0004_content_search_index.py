"""A trigram index for the text filter of the profile list (PostgreSQL only).

`content__icontains` compiles to `UPPER(content::text) LIKE UPPER(%s)`, so the
index is on UPPER(content): the planner can then find rare words through it
and, from the statistics ANALYZE keeps for the expression, tell rare words
from common ones. On other databases this migration does nothing.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

INDEXES = [("profiles_userprofile", "profiles_userprofile_content_trgm", "content")]


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
    dependencies = [("profiles", "0003_archived_by_downgrade")]

    operations = [
        TrigramExtension(),
        migrations.RunPython(create_indexes, drop_indexes, elidable=False),
    ]
