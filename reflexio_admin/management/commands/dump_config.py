"""Print (or write) the whole generation configuration as JSON.

    python manage.py dump_config [--output FILE]

The output is what `load_config` reads: generation settings, profile
extractors, and playbook extractors with their aggregation settings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from reflexio_admin.management.commands._config import config_dump


class Command(BaseCommand):
    help = "Print the whole generation configuration as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", type=Path, help="Write to this file.")

    def handle(self, *args: Any, **options: Any) -> None:
        text = json.dumps(config_dump(), indent=2, ensure_ascii=False) + "\n"
        output: Path | None = options["output"]
        if output is None:
            self.stdout.write(text, ending="")
            return
        output.write_text(text, encoding="utf-8")
        self.stdout.write(f"Wrote the configuration to {output}.")
