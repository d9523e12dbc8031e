"""Create an API key for a user and print it.

    python manage.py create_api_key USERNAME [--name NAME] [--create-user]
                                    [--role viewer|support|reviewer|admin]

The raw key is the last line printed, so scripts can take it with `tail -n 1`.
Only its hash is stored: it cannot be shown again.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from reflexio_admin import roles
from reflexio_admin.models import ApiKey

ROLES = (roles.VIEWER, roles.SUPPORT, roles.REVIEWER, roles.ADMIN)


def role_group(role: str) -> Group:
    """The group of a console role, with its permissions (made if missing)."""
    group, _ = Group.objects.get_or_create(name=role)
    group.permissions.add(
        *Permission.objects.filter(
            content_type__app_label="reflexio_admin",
            codename__in=roles.ROLE_PERMISSIONS[role],
        )
    )
    return group


class Command(BaseCommand):
    help = "Create an API key for a user and print it (shown once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="A label for the key.")
        parser.add_argument(
            "--create-user",
            action="store_true",
            help="Create the user (without a password) when it does not exist.",
        )
        parser.add_argument(
            "--role", choices=ROLES, help="Also give the user this console role."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        username: str = options["username"]
        name: str = options["name"]
        if len(name) > ApiKey._meta.get_field("name").max_length:
            raise CommandError("--name is too long (at most 100 characters).")
        user_model = get_user_model()
        with transaction.atomic():
            user = user_model._default_manager.filter(username=username).first()
            if user is None:
                if not options["create_user"]:
                    raise CommandError(
                        f"There is no user {username!r}. Create it in the console, "
                        "or pass --create-user."
                    )
                user = user_model._default_manager.create_user(username=username)
                user.set_unusable_password()
                user.save(update_fields=["password"])
                self.stdout.write(f"Created user {username} (no password).")
            if options["role"]:
                user.groups.add(role_group(options["role"]))
                self.stdout.write(f"{username} has the {options['role']} role.")
            key, raw = ApiKey.issue(user=user, name=name)

        if not user.is_superuser and not user.has_perm(roles.VIEW_CONSOLE):
            self.stderr.write(
                f"Note: {username} has no role, so the key authenticates but may "
                "not read anything. Give a role with --role."
            )
        self.stdout.write(
            f"API key {key.prefix}... for {username}. Store it now; it is not "
            "shown again:"
        )
        self.stdout.write(raw)
