"""Drop the `varchar_pattern_ops` index PostgreSQL got for `request_id`.

Nothing looks requests up by a prefix of their id, and every publish paid
for a second entry of its id (18 MB at 500,000 requests). The unique index
stays.
"""

from django.db import migrations

from reflexio_admin.db_operations import DropPatternIndex


class Migration(migrations.Migration):
    dependencies = [("reflexio_admin", "0004_wider_interaction_role")]

    operations = [DropPatternIndex(table="reflexio_admin_request", column="request_id")]
