"""Drop the `varchar_pattern_ops` index PostgreSQL got for `request_id`.

Django adds such an index next to the unique one for every unique CharField,
for `LIKE 'prefix%'` lookups. Nothing looks requests up by a prefix of their
id, and every publish paid for a second entry of its id (18 MB at 500,000
requests). The unique index stays.
"""

from django.db import migrations

TABLE = "reflexio_admin_request"
COLUMN = "request_id"

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
    dependencies = [("reflexio_admin", "0004_wider_interaction_role")]

    operations = [
        migrations.RunPython(drop_pattern_index, create_pattern_index, elidable=False)
    ]
