from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

from reflexio_admin.roles import PERMISSIONS, ROLE_PERMISSIONS


def create_roles(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    # Permissions are normally created after all migrations have run; the
    # groups need them now, so make them here (the later pass finds them).
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ContentType = apps.get_model("contenttypes", "ContentType")
    content_type, _ = ContentType.objects.get_or_create(
        app_label="reflexio_admin", model="operation"
    )
    names = dict(PERMISSIONS)
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        for codename in codenames:
            permission, _ = Permission.objects.get_or_create(
                content_type=content_type,
                codename=codename,
                defaults={"name": names[codename]},
            )
            group.permissions.add(permission)


def create_generation_settings(
    apps: Apps, schema_editor: BaseDatabaseSchemaEditor
) -> None:
    GenerationSettings = apps.get_model("reflexio_admin", "GenerationSettings")
    GenerationSettings.objects.get_or_create(
        pk=1, defaults={"batch_size": 10, "batch_interval": 10}
    )


class Migration(migrations.Migration):
    dependencies = [
        ("reflexio_admin", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(create_roles, migrations.RunPython.noop),
        migrations.RunPython(create_generation_settings, migrations.RunPython.noop),
    ]
