"""Drop the `varchar_pattern_ops` index PostgreSQL got for `profile_id`.

Django adds such an index next to the unique one for every unique CharField,
for `LIKE 'prefix%'` lookups. Nothing looks profiles up by a prefix of their
id, and every profile written, promoted or archived paid for a second entry
of its id (31 MB at a million profiles). The unique index stays.
"""

from django.db import migrations

TABLE = "profiles_userprofile"
COLUMN = "profile_id"

FIND = """
    SELECT i.relname
    FROM pg_index x
    JOIN pg_class i ON i.oid = x.indexrelid
    JOIN pg_class t ON t.oid = x.indrelid
    JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0]
    JOIN pg_opclass o ON o.oid = x.indclass[0]
    WHERE t.relname = %s AND a.attname = %s AND o.opcname = 'varchar_pattern_ops'
"""


def drop_pattern_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(FIND, [TABLE, COLUMN])
        names = [row[0] for row in cursor.fetchall()]
    for name in names:
        schema_editor.execute(f"DROP INDEX IF EXISTS {quote(name)}")


def create_pattern_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {TABLE}_{COLUMN}_like "
        f"ON {TABLE} ({COLUMN} varchar_pattern_ops)"
    )


class Migration(migrations.Migration):
    dependencies = [("profiles", "0004_content_search_index")]

    operations = [
        migrations.RunPython(drop_pattern_index, create_pattern_index, elidable=False)
    ]
