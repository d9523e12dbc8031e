"""Every console list costs the same number of queries for 10 rows or 60.

60 rows fill more than a page (50), so the second data set also exercises the
cursor. Every row matches every filter, so each filter lists all of them; the
guard covers every tab, every filter on its own, and the page after a cursor.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from playbooks.models import AgentPlaybook, PlaybookGeneration, UserPlaybook
from profiles.models import ProfileGeneration, UserProfile
from reflexio_admin.status import Status

FEW = 10
MANY = 60
USER = "ana"
VERSION = "v3"
PLAYBOOK_NAME = "default_playbook_extractor"
EXTRACTOR = "default_profile_extractor"
STATUSES = (Status.CURRENT, Status.PENDING, Status.ARCHIVED)
APPROVALS = ("pending", "approved", "rejected")


def _profiles(count: int) -> None:
    for status in STATUSES:
        generation, _ = ProfileGeneration.objects.get_or_create(
            status=status, user_id=USER, extractor_name=EXTRACTOR
        )
        UserProfile.objects.bulk_create(
            UserProfile(
                status=status,
                content=f"Prefers metric units, fact {n}",
                source="email",
                user_id=USER,
                extractor_name=EXTRACTOR,
                generation=generation,
            )
            for n in range(count)
        )


def _user_playbooks(count: int) -> list[UserPlaybook]:
    made: list[UserPlaybook] = []
    for status in STATUSES:
        generation, _ = PlaybookGeneration.objects.get_or_create(
            status=status,
            user_id=USER,
            agent_version=VERSION,
            playbook_name=PLAYBOOK_NAME,
        )
        made += UserPlaybook.objects.bulk_create(
            UserPlaybook(
                status=status,
                content=f"Quote the refund policy, rule {n}",
                trigger="When the user asks for a refund",
                user_id=USER,
                agent_version=VERSION,
                playbook_name=PLAYBOOK_NAME,
                generation=generation,
            )
            for n in range(count)
        )
    return made


def _agent_playbooks(count: int) -> None:
    sources = _user_playbooks(2)
    for approval in APPROVALS:
        for n in range(count):
            playbook = AgentPlaybook.objects.create(
                agent_version=VERSION,
                playbook_name=PLAYBOOK_NAME,
                trigger="When the user asks for a refund",
                content=f"Quote the refund policy, rule {n}",
                approval=approval,
                source_user_playbook_ids=[p.pk for p in sources],
            )
            playbook.user_playbooks.set(sources)


LISTS = {
    "profiles": (
        "profiles:profile_list",
        "status",
        STATUSES,
        _profiles,
        [
            {},
            {"user_id": USER},
            {"source": "email"},
            {"extractor": EXTRACTOR},
            {"q": "metric"},
        ],
    ),
    "user playbooks": (
        "playbooks:user_playbook_list",
        "status",
        STATUSES,
        _user_playbooks,
        [
            {},
            {"agent_version": VERSION},
            {"playbook_name": PLAYBOOK_NAME},
            {"user_id": USER},
            {"q": "refund"},
        ],
    ),
    "agent playbooks": (
        "playbooks:agent_playbook_list",
        "approval",
        APPROVALS,
        _agent_playbooks,
        [
            {},
            {"agent_version": VERSION},
            {"playbook_name": PLAYBOOK_NAME},
            {"q": "refund"},
        ],
    ),
}


def _cases() -> list[tuple[str, str, dict[str, str]]]:
    return [
        (name, tab, filters)
        for name, (_, _, tabs, _, filter_sets) in LISTS.items()
        for tab in tabs
        for filters in filter_sets
    ]


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured)


def _counts(client, name: str, tab: str, filters: dict[str, str]) -> list[int]:
    """Queries of the first page and of the page after the newest row."""
    url_name, tab_param, _, _, _ = LISTS[name]
    query = {tab_param: tab, **filters}
    base = reverse(url_name)
    first = _queries(client, f"{base}?{urlencode(query)}")
    page = _page_items(client, f"{base}?{urlencode(query)}")
    after = _queries(client, f"{base}?{urlencode(query | {'after': page[0].pk})}")
    return [first, after]


def _page_items(client, url: str) -> list:
    return list(client.get(url).context["page"].items)


@pytest.mark.parametrize(
    ("name", "tab", "filters"),
    _cases(),
    ids=[f"{n}-{t}-{'&'.join(f) or 'none'}" for n, t, f in _cases()],
)
def test_a_list_page_runs_as_many_queries_for_a_full_page_as_for_a_few_rows(
    admin_client, name: str, tab: str, filters: dict[str, str]
):
    make: Callable[[int], object] = LISTS[name][3]
    make(FEW)
    few = _counts(admin_client, name, tab, filters)
    assert len(_page_items(admin_client, _url(name, tab, filters))) == FEW

    make(MANY - FEW)
    many = _counts(admin_client, name, tab, filters)

    assert len(_page_items(admin_client, _url(name, tab, filters))) == 50
    assert many == few


def _url(name: str, tab: str, filters: dict[str, str]) -> str:
    url_name, tab_param, _, _, _ = LISTS[name]
    return f"{reverse(url_name)}?{urlencode({tab_param: tab, **filters})}"
