from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

DEFINITION = (
    "Durable facts about the user that help the agent serve them better: who "
    "they are, what they do, where they live, their preferences, constraints "
    "and standing requests. Skip small talk and one-off details."
)


def create_default_extractor(
    apps: Apps, schema_editor: BaseDatabaseSchemaEditor
) -> None:
    ProfileExtractor = apps.get_model("profiles", "ProfileExtractor")
    ProfileExtractor.objects.get_or_create(
        name="default_profile_extractor",
        defaults={"definition_prompt": DEFINITION, "allow_manual_trigger": True},
    )


class Migration(migrations.Migration):
    dependencies = [("profiles", "0001_initial")]

    operations = [
        migrations.RunPython(create_default_extractor, migrations.RunPython.noop),
    ]
