"""Cursor pages and capped counts, so that lists stay fast at millions of rows.

Lists page on the primary key, newest first: `?after=<id>` shows the rows with a
smaller id. Tab counts stop at `COUNT_CAP`; past it a tab shows "10,000+".
With a text filter they stop at `SEARCH_COUNT_CAP`: such a count cannot be read
from an index alone, every counted row is fetched and matched. A small table can
count every tab from one read of its matches instead (`sampled_tab_counts`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import Model, QuerySet
from django.http import QueryDict

PAGE_SIZE = 50
COUNT_CAP = 10_000
SEARCH_COUNT_CAP = 100


@dataclass(frozen=True)
class CursorPage:
    items: list[Any]
    next_url: str | None
    first_url: str | None


@dataclass(frozen=True)
class CappedCount:
    value: int
    capped: bool

    def __str__(self) -> str:
        return f"{self.value:,}+" if self.capped else f"{self.value:,}"


def parse_cursor(value: str | None) -> int | None:
    try:
        cursor = int(value or "")
    except ValueError:
        return None
    return cursor if cursor > 0 else None


def query_url(params: QueryDict, **changes: str | None) -> str:
    """`?query` with `changes` applied; a None value drops the parameter."""
    query = params.copy()
    for name, value in changes.items():
        query.pop(name, None)
        if value is not None:
            query[name] = value
    encoded = query.urlencode()
    return f"?{encoded}" if encoded else "?"


def cursor_page[M: Model](
    queryset: QuerySet[M],
    params: QueryDict,
    *,
    size: int = PAGE_SIZE,
    cursor_name: str = "after",
) -> CursorPage:
    """One page of `queryset`, newest first, starting below `?after=`."""
    cursor = parse_cursor(params.get(cursor_name))
    ordered = queryset.order_by("-pk")
    if cursor is not None:
        ordered = ordered.filter(pk__lt=cursor)
    rows = list(ordered[: size + 1])
    next_url = None
    if len(rows) > size:
        rows = rows[:size]
        next_url = query_url(params, **{cursor_name: str(rows[-1].pk)})
    first_url = query_url(params, **{cursor_name: None}) if cursor else None
    return CursorPage(items=rows, next_url=next_url, first_url=first_url)


def capped_counts(
    querysets: Mapping[str, QuerySet[Any]], cap: int, *, newest_first: bool = False
) -> dict[str, CappedCount]:
    """Capped counts of several querysets, in one query and one round trip.

    Each count is a LIMITed subquery that reads at most `cap + 1` rows, never
    the whole table. `newest_first` walks the rows in
    the order the lists show them, for counts that cannot stop early on an
    index alone (see `tab_counts`).
    """
    if not querysets:
        return {}
    selects = []
    params: list[Any] = []
    databases = set()
    for queryset in querysets.values():
        ordered = queryset.order_by("-pk") if newest_first else queryset.order_by()
        limited = ordered.values("pk")[: cap + 1]
        databases.add(limited.db)
        try:
            sql, sql_params = limited.query.get_compiler(limited.db).as_sql()
        except EmptyResultSet:  # a filter that matches nothing, e.g. pk__in=[]
            selects.append("0")
            continue
        selects.append(f"(SELECT COUNT(*) FROM ({sql}) AS counted)")
        params.extend(sql_params)
    if len(databases) > 1:
        raise ValueError("capped_counts() needs querysets of one database")
    with connections[databases.pop()].cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(selects)}", params)
        values = cursor.fetchone()
    return {
        key: CappedCount(value=min(value, cap), capped=value > cap)
        for key, value in zip(querysets, values, strict=True)
    }


def tab_counts(
    querysets: Mapping[str, QuerySet[Any]], *, searching: bool = False
) -> dict[str, CappedCount]:
    """Capped counts for tabs; lower caps while a text filter is on.

    A text-filtered count cannot be read from an index alone: every counted
    row is fetched and matched. Walking newest first, like the list, it reads
    the rows the page reads and stops at the cap, where an unordered count
    would scan from wherever PostgreSQL's last sequential scan stopped.
    """
    if searching:
        return capped_counts(querysets, SEARCH_COUNT_CAP, newest_first=True)
    return capped_counts(querysets, COUNT_CAP)


def sampled_tab_counts(
    queryset: QuerySet[Any], field: str, values: list[str], *, cap: int
) -> dict[str, CappedCount]:
    """Counts of `queryset` for each value of `field`, from one LIMITed read.

    At most `cap + 1` matching rows are read, in whatever order PostgreSQL
    finds them fastest (through a trigram index for a rare word, a plain
    scan for a common one), and counted by value. When there are no more,
    every count is exact; otherwise each is what the read found, shown as a
    lower bound ("1,234+"). One query for every tab, where `tab_counts` walks
    each tab on its own.
    """
    limited = queryset.order_by().values(field)[: cap + 1]
    try:
        sql, params = limited.query.get_compiler(limited.db).as_sql()
    except EmptyResultSet:
        return {value: CappedCount(value=0, capped=False) for value in values}
    column = connections[limited.db].ops.quote_name(
        queryset.model._meta.get_field(field).column
    )
    tabs = ", ".join(f"COUNT(*) FILTER (WHERE matches.{column} = %s)" for _ in values)
    with connections[limited.db].cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*), {tabs} FROM ({sql}) AS matches", [*values, *params]
        )
        total, *counts = cursor.fetchone()
    capped = total > cap
    return {
        value: CappedCount(value=count, capped=capped)
        for value, count in zip(values, counts, strict=True)
    }


@dataclass(frozen=True)
class Tab:
    value: str
    label: str
    url: str
    count: CappedCount
    active: bool


def status_tabs(
    params: QueryDict,
    choices: list[tuple[str, str]],
    counts: dict[str, CappedCount],
    *,
    active: str,
    name: str = "status",
) -> list[Tab]:
    """Tabs that keep every filter but the cursor."""
    return [
        Tab(
            value=value,
            label=label,
            url=query_url(params, **{name: value, "after": None}),
            count=counts[value],
            active=value == active,
        )
        for value, label in choices
    ]
