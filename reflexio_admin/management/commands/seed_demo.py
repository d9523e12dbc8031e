"""Load the demo data once and print the demo login.

    python manage.py seed_demo [--reset] [--username demo] [--password ...]

Safe to run at every start: when the database already holds conversations it
only makes sure the demo login exists and prints it. `--reset` removes the
demo customers and everything generated from them first, then loads them
again (only into a database without other conversations).
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from reflexio_admin import roles
from reflexio_admin.demo import DemoError, DemoSummary, build_demo, reset_demo
from reflexio_admin.demo import summarize as demo_summary
from reflexio_admin.llm import LLMError, get_provider
from reflexio_admin.models import Request
from reflexio_admin.operations import OperationError

CONSOLE_URL = "http://127.0.0.1:8000/"
DEFAULT_USERNAME = "demo"
PASSWORD_FILE = "demo_password"


def _password_path(username: str) -> Path:
    """Where the login's password is kept: one file per demo login."""
    name = PASSWORD_FILE
    if username != DEFAULT_USERNAME:
        name = f"{PASSWORD_FILE}-{username}"
    return Path(settings.VAR_DIR) / name


def _stored_password(username: str) -> str | None:
    path = _password_path(username)
    if not path.exists():
        return None
    return path.read_text().strip() or None


def _store_password(username: str, password: str) -> None:
    """Write the password readable by its owner only."""
    path = _password_path(username)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(password + "\n")
    path.chmod(0o600)


class Command(BaseCommand):
    help = "Load the demo data (once) and print the demo login."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Delete the demo customers and what was generated from them, "
            "then load the demo again.",
        )
        parser.add_argument(
            "--username", default=DEFAULT_USERNAME, help="Demo login name."
        )
        parser.add_argument(
            "--password",
            default=None,
            help=f"Demo password; by default one is generated once and kept in "
            f"VAR_DIR/{PASSWORD_FILE} (VAR_DIR/{PASSWORD_FILE}-USERNAME for other "
            "logins).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        user, password = self._ensure_login(options["username"], options["password"])

        if options["reset"]:
            deleted = reset_demo(actor=user)
            removed = ", ".join(f"{n} {kind}" for kind, n in deleted.items())
            self.stdout.write(f"Removed the demo data: {removed}.")

        if Request.objects.exists():
            self.stdout.write(
                "The database already holds conversations; no demo data loaded."
            )
            summary = demo_summary()
        else:
            self.stdout.write("Loading the demo data (runs every operation once):")
            try:
                summary = build_demo(stdout=self.stdout, actor=user)
            except (DemoError, OperationError, LLMError) as exc:
                raise CommandError(f"The demo could not be built: {exc}") from exc

        self._banner(user.get_username(), password, summary, started)

    def _ensure_login(self, username: str, explicit: str | None) -> tuple[Any, str]:
        """Create or update the demo admin; return it with the password to show.

        The generated password is kept so that every start prints the same
        login. A password changed in the console since is left alone.
        """
        if explicit is not None:
            try:
                validate_password(explicit)
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from exc
        stored = _stored_password(username)
        password = explicit or stored or secrets.token_urlsafe(12)
        fresh = explicit is not None or stored is None
        if fresh:
            _store_password(username, password)

        with transaction.atomic():
            user, created = get_user_model().objects.get_or_create(username=username)
            if created or fresh:
                user.set_password(password)
            elif not user.check_password(password):
                password = (
                    f"(changed since it was generated; run seed_demo --username "
                    f"{username} --password NEW to set another)"
                )
            user.is_active = user.is_staff = user.is_superuser = True
            user.save()
            group, _ = Group.objects.get_or_create(name=roles.ADMIN)
            user.groups.add(group)
        return user, password

    def _banner(
        self, username: str, password: str, summary: DemoSummary, started: float
    ) -> None:
        def counts(values: dict[str, int]) -> str:
            return ", ".join(f"{n} {name}" for name, n in values.items())

        rule = "=" * 72
        lines = [
            rule,
            "Reflexio Admin demo",
            f"  Console:   {CONSOLE_URL}",
            f"  Username:  {username}",
            f"  Password:  {password}",
            f"             (kept in {_password_path(username)})",
            f"  LLM:       {get_provider().name}",
            "",
            f"  {summary.users} users, {summary.requests} requests, "
            f"{summary.interactions} interactions",
            f"  Agent versions: {', '.join(summary.agent_versions) or '-'}; "
            f"sources: {', '.join(summary.sources) or '-'}",
            f"  Profiles:        {counts(summary.profiles)}",
            f"  User playbooks:  {counts(summary.user_playbooks)}",
            f"  Agent playbooks: {counts(summary.agent_playbooks)}",
        ]
        for version, agg in summary.aggregation.items():
            lines.append(
                f"  Aggregation {version}: {agg.read} user playbooks read, "
                f"{agg.clusters} clusters ({agg.clusters_kept} kept), "
                f"{agg.proposed} agent playbooks proposed"
            )
        lines += [f"  Took {time.monotonic() - started:.1f} s", rule]
        self.stdout.write("\n".join(lines))
