"""Drop the `varchar_pattern_ops` index PostgreSQL got for `profile_id`.

Nothing looks profiles up by a prefix of their id, and every profile written,
promoted or archived paid for a second entry of its id (31 MB at a million
profiles). The unique index stays.
"""

from django.db import migrations

from reflexio_admin.db_operations import DropPatternIndex


class Migration(migrations.Migration):
    dependencies = [("profiles", "0004_content_search_index")]

    operations = [DropPatternIndex(table="profiles_userprofile", column="profile_id")]
