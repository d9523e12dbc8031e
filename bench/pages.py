"""Page loads through the whole Django stack: lists, the review and baselines.

Every page is fetched with `django.test.Client` as a logged-in superuser
(middleware, session, permission checks, templates: everything but the
socket), a few times to warm up and then `size.page_samples` times; the p95
of those is the figure. A list page is compared with the first page of the
Django admin's change list of the same model, measured the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from unittest import mock
from urllib.parse import urlencode

from django.db import connection
from django.db.models import QuerySet
from django.test import Client
from django.urls import reverse

from bench import seed
from bench.report import Row, median, p95
from bench.sizes import Size

LIST_P95_MS = 50.0
LIST_ADMIN_RATIO = 0.3
REVIEW_P95_MS = 100.0
DEEP_ROW = 10_000


@dataclass(frozen=True)
class Timing:
    samples_ms: list[float]
    queries: int
    status: int
    rows: int = 0

    @property
    def p95(self) -> float:
        return p95(self.samples_ms)

    @property
    def median(self) -> float:
        return median(self.samples_ms)


def count_queries(client: Client, url: str) -> tuple[int, int, int]:
    """Fetch `url` once; return (status, SQL queries it ran, rows it listed)."""
    from reflexio_admin.views import paging

    queries = 0
    rows: list[int] = []

    def counter(execute: Any, sql: str, params: Any, many: bool, ctx: Any) -> Any:
        nonlocal queries
        queries += 1
        return execute(sql, params, many, ctx)

    def counting_page(*args: Any, **kwargs: Any) -> Any:
        page = paging.cursor_page(*args, **kwargs)
        rows.append(len(page.items))
        return page

    with (
        connection.execute_wrapper(counter),
        mock.patch("profiles.views.cursor_page", counting_page),
        mock.patch("playbooks.views.cursor_page", counting_page),
    ):
        status = client.get(url).status_code
    return status, queries, rows[-1] if rows else 0


def sample(client: Client, url: str, count: int) -> list[float]:
    """Milliseconds of `count` fetches of `url`."""
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        client.get(url)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def time_together(pages: list[tuple[Client, str]], size: Size) -> list[Timing]:
    """Warm up, count queries, then time `pages` round-robin, one load each.

    Interleaving puts the pages (a console page and its baseline) under the
    same load of this shared machine.
    """
    counted = []
    for client, url in pages:
        sample(client, url, size.page_warmup)
        counted.append(count_queries(client, url))
    samples: list[list[float]] = [[] for _ in pages]
    for _ in range(size.page_samples):
        for index, (client, url) in enumerate(pages):
            samples[index] += sample(client, url, 1)
    return [
        Timing(samples_ms=taken, status=status, queries=queries, rows=rows)
        for taken, (status, queries, rows) in zip(samples, counted, strict=True)
    ]


@dataclass(frozen=True)
class ListPage:
    """One console list with its tabs, filters and the admin page to beat."""

    title: str
    url_name: str
    tab_param: str
    tabs: tuple[str, ...]
    filters: tuple[tuple[str, str, dict[str, str]], ...]
    admin_url: str
    # (tab, selector filters) -> the queryset the page lists, to find the id
    # of the 10,000th row for the deep page.
    listing: Callable[[str, dict[str, str]], QuerySet[Any]]
    extra: dict[str, str] = field(default_factory=dict)


def _profile_listing(tab: str, filters: dict[str, str]) -> QuerySet[Any]:
    from profiles import selectors

    return selectors.profiles(**filters).filter(status=tab)


def _user_playbook_listing(tab: str, filters: dict[str, str]) -> QuerySet[Any]:
    from playbooks import selectors

    return selectors.user_playbooks(**filters).filter(status=tab)


def _agent_playbook_listing(tab: str, filters: dict[str, str]) -> QuerySet[Any]:
    from playbooks import selectors

    return selectors.agent_playbooks(**filters).filter(approval=tab)


def list_pages(size: Size) -> list[ListPage]:
    """The three lists; each filter is (label, query params, selector filters)."""
    user = seed.user_id(size.users // 2 + 321)
    statuses = ("current", "pending", "archived")
    return [
        ListPage(
            title="profiles",
            url_name="profiles:profile_list",
            tab_param="status",
            tabs=statuses,
            filters=(
                ("no filter", "", {}),
                ("user", f"user_id={user}", {"user_id": user}),
                ("source", "source=email", {"source": "email"}),
                (
                    "extractor",
                    f"extractor={seed.PROFILE_EXTRACTOR}",
                    {"extractor_name": seed.PROFILE_EXTRACTOR},
                ),
                ("text", f"q={seed.PROFILE_TERM}", {"text": seed.PROFILE_TERM}),
            ),
            admin_url="/django-admin/profiles/userprofile/",
            listing=_profile_listing,
        ),
        ListPage(
            title="user playbooks",
            url_name="playbooks:user_playbook_list",
            tab_param="status",
            tabs=statuses,
            filters=(
                ("no filter", "", {}),
                ("agent version", "agent_version=v3", {"agent_version": "v3"}),
                (
                    "name",
                    f"playbook_name={seed.OTHER_PLAYBOOK_NAME}",
                    {"playbook_name": seed.OTHER_PLAYBOOK_NAME},
                ),
                ("user", f"user_id={user}", {"user_id": user}),
                ("text", f"q={seed.PLAYBOOK_TERM}", {"text": seed.PLAYBOOK_TERM}),
            ),
            admin_url="/django-admin/playbooks/userplaybook/",
            listing=_user_playbook_listing,
        ),
        ListPage(
            title="agent playbooks",
            url_name="playbooks:agent_playbook_list",
            tab_param="approval",
            tabs=("pending", "approved", "rejected"),
            filters=(
                ("no filter", "", {}),
                ("agent version", "agent_version=v3", {"agent_version": "v3"}),
                (
                    "name",
                    f"playbook_name={seed.OTHER_PLAYBOOK_NAME}",
                    {"playbook_name": seed.OTHER_PLAYBOOK_NAME},
                ),
                ("text", f"q={seed.PLAYBOOK_TERM}", {"text": seed.PLAYBOOK_TERM}),
            ),
            admin_url="/django-admin/playbooks/agentplaybook/",
            listing=_agent_playbook_listing,
        ),
    ]


def _deep_cursor(page: ListPage, tab: str, filters: dict[str, str]) -> int | None:
    """The id of the 10,000th row of a listing; None when no row follows it."""
    ids = list(
        page.listing(tab, filters)
        .order_by("-pk")
        .values_list("pk", flat=True)[DEEP_ROW - 1 : DEEP_ROW + 1]
    )
    return ids[0] if len(ids) == 2 else None


def measure_lists(client: Client, size: Size, log: Callable[[str], None]) -> list[Row]:
    rows: list[Row] = []
    for page in list_pages(size):
        rows.extend(_measure_list(client, page, size, log))
    return rows


def _measure_list(
    client: Client, page: ListPage, size: Size, log: Callable[[str], None]
) -> list[Row]:
    """Every tab, filter and depth of one list, against its admin page.

    Samples are taken round-robin: each round loads every console page once
    and the admin page twice, so a burst of load on this shared machine
    lands on all of them alike instead of on whichever page was measured
    while it lasted, and the baseline covers the same stretch of time.
    """
    base = reverse(page.url_name)
    cases: list[tuple[str, str]] = []
    for tab in page.tabs:
        for label, query, filters in page.filters:
            cursor = _deep_cursor(page, tab, filters)
            depths: list[tuple[str, int | None]] = [("first page", None)]
            if cursor is not None:
                depths.append(("10,000 rows deep", cursor))
            for depth, after in depths:
                params = f"{page.tab_param}={tab}"
                if query:
                    params += f"&{query}"
                if after is not None:
                    params += "&" + urlencode({"after": after})
                cases.append((f"{tab}, {label}, {depth}", f"{base}?{params}"))

    sample(client, page.admin_url, size.page_warmup)
    admin_status, admin_queries, _ = count_queries(client, page.admin_url)
    counted = {}
    for _, url in cases:
        sample(client, url, size.page_warmup)
        counted[url] = count_queries(client, url)
    samples: dict[str, list[float]] = {url: [] for _, url in cases}
    admin_samples: list[float] = []
    for _ in range(size.page_samples):
        for _, url in cases:
            samples[url] += sample(client, url, 1)
        admin_samples += sample(client, page.admin_url, 2)
    measured = [
        (
            name,
            url,
            Timing(
                samples_ms=samples[url],
                status=counted[url][0],
                queries=counted[url][1],
                rows=counted[url][2],
            ),
        )
        for name, url in cases
    ]

    admin_p95 = p95(admin_samples)
    rows = [
        Row(
            group="baseline",
            name=f"Django admin change list, {page.title}, first page",
            target="-",
            measured=admin_p95,
            unit="ms",
            notes=f"{admin_queries} queries, {len(admin_samples)} samples"
            + ("" if admin_status == 200 else f", HTTP {admin_status}"),
            extra={"median_ms": median(admin_samples), "status": admin_status},
        )
    ]
    for name, url, timing in measured:
        ok = timing.status == 200
        rows.append(
            Row(
                group=f"{page.title} list",
                name=name,
                target=f"p95 <= {LIST_P95_MS:.0f} ms, <= {LIST_ADMIN_RATIO}x admin",
                measured=timing.p95,
                unit="ms",
                baseline=admin_p95,
                baseline_name="admin p95",
                passed=ok
                and timing.p95 <= LIST_P95_MS
                and timing.p95 <= LIST_ADMIN_RATIO * admin_p95,
                notes=f"{timing.queries} queries, {timing.rows} rows"
                + ("" if ok else f", HTTP {timing.status}"),
                extra={"url": url, "median_ms": timing.median},
            )
        )
    # An empty page skips the queries that fetch what its rows link to, so
    # the guard compares the pages that list something.
    listed = [timing for _, _, timing in measured if timing.rows]
    counts = sorted({timing.queries for timing in listed})
    sizes = sorted({timing.rows for timing in listed})
    log(f"{page.title}: queries per page {counts} for pages of {sizes} rows")
    rows.append(
        Row(
            group=f"{page.title} list",
            name="queries per page, every tab, filter and depth",
            target="constant",
            measured=float(counts[-1]),
            unit="queries",
            baseline=float(counts[0]),
            baseline_name="fewest",
            passed=len(counts) == 1,
            notes=f"{', '.join(map(str, counts))} queries for pages of "
            f"{sizes[0]} to {sizes[-1]} rows",
        )
    )
    return rows


MODEL_METHODS = frozenset(
    {
        "extract_profiles",
        "consolidate_profiles",
        "extract_playbooks",
        "consolidate_playbooks",
        "consolidate_cluster",
        "embed",
    }
)


class _CountingProvider:
    """Wraps the active LLM provider while a review renders: counts model calls."""

    def __init__(self, provider: Any) -> None:
        self.provider = provider
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.provider, name)
        if name not in MODEL_METHODS:
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return value(*args, **kwargs)

        return call


def measure_review(
    client: Client, anonymous: Client, size: Size, log: Callable[[str], None]
) -> list[Row]:
    """The review of one user with 50 pending and 50 current facts."""
    url = f"{reverse('profiles:review')}?{urlencode({'user_id': seed.REVIEW_USER})}"
    from reflexio_admin import llm, offline_llm

    provider = _CountingProvider(llm.get_provider())
    embedded: list[int] = []

    real_embed = offline_llm.embed_text

    def counting_embed(*args: Any, **kwargs: Any) -> list[float]:
        embedded.append(1)
        return real_embed(*args, **kwargs)

    with (
        mock.patch("reflexio_admin.llm.get_provider", return_value=provider),
        mock.patch.object(offline_llm, "embed_text", counting_embed),
    ):
        review, login = time_together(
            [(client, url), (anonymous, reverse("login"))], size
        )
    if login.status != 200:
        raise RuntimeError(f"the login page answered HTTP {login.status}")
    model_calls = provider.calls
    ok = review.status == 200 and model_calls == 0
    log(
        f"review: {review.queries} queries, {model_calls} model calls, "
        f"{len(embedded)} offline embeddings"
    )
    return [
        Row(
            group="baseline",
            name="login page (trivial page)",
            target="-",
            measured=login.p95,
            unit="ms",
            notes=f"{login.queries} queries",
        ),
        Row(
            group="review",
            name="one user, 50 pending + 50 current facts",
            target=f"p95 <= {REVIEW_P95_MS:.0f} ms, no model call",
            measured=review.p95,
            unit="ms",
            baseline=login.p95,
            baseline_name="login p95",
            passed=ok and review.p95 <= REVIEW_P95_MS,
            notes=f"{review.queries} queries, {model_calls} model calls, "
            f"{len(embedded)} offline embeddings"
            + ("" if review.status == 200 else f", HTTP {review.status}"),
            extra={"url": url, "median_ms": review.median},
        ),
    ]
