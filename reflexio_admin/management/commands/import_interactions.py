"""Load interactions from a JSONL file of publish payloads.

    python manage.py import_interactions FILE.jsonl [--batch N] [--extract]

Each line is one body of POST /api/publish_interaction. Bad lines are reported
by number with the reason and the others are still stored; the command exits
with an error when any line was bad.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from reflexio_admin import ingest

SHOWN_BAD_LINES = 20


class Command(BaseCommand):
    help = "Load interactions from a JSONL file of publish payloads."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--batch",
            type=int,
            default=1000,
            help="Lines written per transaction (default 1000).",
        )
        parser.add_argument(
            "--extract",
            action="store_true",
            help="Queue automatic extraction for the imported users at the end.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        if options["batch"] < 1:
            raise CommandError("--batch must be at least 1.")

        result = ingest.import_jsonl(
            path, batch=options["batch"], auto_extract=options["extract"]
        )

        self.stdout.write(
            f"Read {result.lines} line(s): stored {result.requests} request(s) "
            f"with {result.interactions} interaction(s); skipped "
            f"{result.skipped_empty} empty interaction(s)."
        )
        if options["extract"]:
            self.stdout.write(f"Queued {result.operations} extraction run(s).")
        if not result.bad_count:
            return
        self.stderr.write(f"{result.bad_count} bad line(s) were not imported:")
        for number, reason in result.bad_lines[:SHOWN_BAD_LINES]:
            self.stderr.write(f"  line {number}: {reason}")
        if result.bad_count > SHOWN_BAD_LINES:
            self.stderr.write(f"  ...and {result.bad_count - SHOWN_BAD_LINES} more")
        raise CommandError(
            f"{result.bad_count} bad line(s); the other lines were imported."
        )
