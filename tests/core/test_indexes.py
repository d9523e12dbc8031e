"""Indexes that the migrations keep or drop on PostgreSQL."""

import pytest
from django.db import IntegrityError, connection, transaction

from profiles.models import UserProfile
from reflexio_admin.models import Request
from tests.factories import conversation

pytestmark = pytest.mark.django_db


def _index_opclasses(table: str, column: str) -> list[str]:
    """The operator class of every index whose first column is `column`."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT o.opcname
            FROM pg_index x
            JOIN pg_class t ON t.oid = x.indrelid
            JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0]
            JOIN pg_opclass o ON o.oid = x.indclass[0]
            WHERE t.relname = %s AND a.attname = %s
            """,
            [table, column],
        )
        return sorted(row[0] for row in cursor.fetchall())


@pytest.mark.parametrize(
    ("model", "column"), [(UserProfile, "profile_id"), (Request, "request_id")]
)
def test_ids_written_on_every_insert_keep_only_their_unique_index(model, column):
    assert _index_opclasses(model._meta.db_table, column) == ["text_ops"]


def test_a_request_id_is_still_refused_twice():
    conversation("ana", ["I live in Berlin."])
    taken = Request.objects.get().request_id

    with pytest.raises(IntegrityError), transaction.atomic():
        Request.objects.create(request_id=taken, user_id="ben")
