"""Apply a configuration file written by `dump_config`.

    python manage.py load_config FILE [--prune] [--dry-run]

The file is validated as a whole first; then every change is applied in one
transaction and listed. Extractors missing from the file are kept unless
--prune is given. --dry-run lists the changes without keeping them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from pydantic import ValidationError

from reflexio_admin.api.schemas import describe_errors
from reflexio_admin.management.commands._config import Configuration, config_apply


class _DryRun(Exception):
    pass


class Command(BaseCommand):
    help = "Apply a configuration file written by dump_config."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--prune",
            action="store_true",
            help="Delete extractors that are not in the file.",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Show what would change without changing anything.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        config = self._read(options["file"])
        changes: list[str] = []
        notes: list[str] = []
        try:
            with transaction.atomic():
                changes, notes = config_apply(config, prune=options["prune"])
                if options["dry_run"]:
                    raise _DryRun
        except _DryRun:
            pass
        except DjangoValidationError as exc:
            raise CommandError(f"Invalid configuration: {exc}") from None

        for note in notes:
            self.stdout.write(f"  {note}")
        if not changes:
            self.stdout.write("Nothing to change: the configuration already matches.")
            return
        verb = "Would change" if options["dry_run"] else "Changed"
        self.stdout.write(f"{verb} {len(changes)} setting(s):")
        for change in changes:
            self.stdout.write(f"  {change}")

    def _read(self, path: Path) -> Configuration:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}") from None
        try:
            return Configuration.model_validate(json.loads(text))
        except json.JSONDecodeError as exc:
            raise CommandError(f"{path} is not valid JSON: {exc}") from None
        except ValidationError as exc:
            raise CommandError(
                f"{path} is not a valid configuration: {describe_errors(exc)}"
            ) from None
