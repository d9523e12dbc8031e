"""Benchmark results: one row per measured item, printed as a table and as JSON."""

from __future__ import annotations

import json
import math
import platform
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Row:
    """One line of the table.

    `measured` and `baseline` are in `unit`; `ratio` is measured / baseline.
    `passed` is None for rows that are reported for context only.
    """

    group: str
    name: str
    target: str
    measured: float | None
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    passed: bool | None = None
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.measured is None or not self.baseline:
            return None
        return self.measured / self.baseline


def p95(samples: list[float]) -> float:
    """The 95th percentile by the nearest-rank method."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(0.95 * len(ordered)))
    return ordered[rank - 1]


def median(samples: list[float]) -> float:
    ordered = sorted(samples)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ms" or unit == "s":
        return f"{value:,.1f} {unit}" if value < 100 else f"{value:,.0f} {unit}"
    if unit == "MB":
        return f"{value:,.0f} MB"
    if unit == "rps":
        return f"{value:,.0f} rps"
    return f"{value:,.0f} {unit}".strip()


def _verdict(passed: bool | None) -> str:
    return {True: "PASS", False: "FAIL", None: "info"}[passed]


def format_table(rows: list[Row]) -> str:
    header = ("benchmark", "target", "measured", "baseline", "ratio", "result")
    lines = [
        (
            f"{row.group}: {row.name}",
            row.target,
            _number(row.measured, row.unit),
            _number(row.baseline, row.unit)
            + (f" ({row.baseline_name})" if row.baseline_name else ""),
            f"{row.ratio:.2f}x" if row.ratio is not None else "-",
            _verdict(row.passed),
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(6)]
    out = [
        "  ".join(cell.ljust(width) for cell, width in zip(header, widths, strict=True))
    ]
    out.append("  ".join("-" * width for width in widths))
    for line in lines:
        out.append(
            "  ".join(
                cell.ljust(width) for cell, width in zip(line, widths, strict=True)
            )
        )
    return "\n".join(out)


def format_markdown(rows: list[Row]) -> str:
    out = [
        "| benchmark | target | measured | baseline | ratio | result |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        baseline = _number(row.baseline, row.unit)
        if row.baseline_name:
            baseline += f" ({row.baseline_name})"
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else "-"
        out.append(
            f"| {row.group}: {row.name} | {row.target} | "
            f"{_number(row.measured, row.unit)} | {baseline} | {ratio} | "
            f"{_verdict(row.passed)} |"
        )
    return "\n".join(out)


def _command(*args: str) -> str:
    try:
        return subprocess.run(
            args, capture_output=True, text=True, check=False, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def machine() -> dict[str, Any]:
    """What the run ran on."""
    from django.db import connection

    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory_kb = int(line.split()[1])
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
    import django_rq

    redis = django_rq.get_connection("default").info("server").get("redis_version")
    return {
        "nproc": _command("nproc"),
        "cpu": cpu,
        "memory_gib": round(memory_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": postgres,
        "redis": redis,
    }


def write_json(path: Path, rows: list[Row], *, size: str, meta: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "size": size,
        **meta,
        "results": [
            {**asdict(row), "ratio": row.ratio, "result": _verdict(row.passed)}
            for row in rows
        ],
    }
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
