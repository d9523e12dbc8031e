from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

DEFINITION = (
    "Rules for the agent learned from this user's conversations: corrections "
    "(the agent did something, the user pushed back, and a better default "
    "follows) and repeatable success paths (an approach the user confirmed "
    "worked). Each rule names the situation it applies to."
)


def create_default_extractor(
    apps: Apps, schema_editor: BaseDatabaseSchemaEditor
) -> None:
    PlaybookExtractor = apps.get_model("playbooks", "PlaybookExtractor")
    PlaybookExtractor.objects.get_or_create(
        name="default_playbook_extractor",
        defaults={
            "definition_prompt": DEFINITION,
            "allow_manual_trigger": True,
            "aggregation_enabled": True,
            "min_cluster_size": 2,
        },
    )


class Migration(migrations.Migration):
    dependencies = [("playbooks", "0001_initial")]

    operations = [
        migrations.RunPython(create_default_extractor, migrations.RunPython.noop),
    ]
