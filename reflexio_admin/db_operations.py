"""Migration operations of our own."""

from __future__ import annotations

from typing import Any

from django.db.migrations.operations.base import Operation

# The index of `column` of `table` that uses the varchar_pattern_ops class.
_FIND_PATTERN_INDEX = """
    SELECT i.relname
    FROM pg_index x
    JOIN pg_class i ON i.oid = x.indexrelid
    JOIN pg_class t ON t.oid = x.indrelid
    JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0]
    JOIN pg_opclass o ON o.oid = x.indclass[0]
    WHERE t.relname = %s AND a.attname = %s AND o.opcname = 'varchar_pattern_ops'
"""


class DropPatternIndex(Operation):
    """Drop the `varchar_pattern_ops` index PostgreSQL has for a column.

    Django adds one next to the unique index of every unique CharField, for
    `LIKE 'prefix%'` lookups; where nothing looks a column up by a prefix,
    it only costs every write. Found by its operator class, not its name.
    Other databases have no such index; there it does nothing.
    """

    reversible = True

    def __init__(self, table: str, column: str) -> None:
        self.table = table
        self.column = column

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return (
            self.__class__.__name__,
            [],
            {"table": self.table, "column": self.column},
        )

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass  # the models do not know about the index either way

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(_FIND_PATTERN_INDEX, [self.table, self.column])
            names = [row[0] for row in cursor.fetchall()]
        for name in names:
            schema_editor.execute(
                f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}"
            )

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        quote = schema_editor.quote_name
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {quote(f'{self.table}_{self.column}_like')} "
            f"ON {quote(self.table)} ({quote(self.column)} varchar_pattern_ops)"
        )

    def describe(self) -> str:
        return f"Drop the varchar_pattern_ops index of {self.table}.{self.column}"
