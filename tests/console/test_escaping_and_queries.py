"""User content shows as text, and list pages cost the same at any size."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from playbooks import services as playbook_services
from playbooks.models import AgentPlaybook
from profiles import services as profile_services
from profiles.models import UserProfile
from reflexio_admin.models import AuditEvent, Operation, OperationKind
from reflexio_admin.views import paging
from tests.console.conftest import add_fact
from tests.factories import conversation

HOSTILE = "<script>alert(1)</script>{{ 7|add:1 }}"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;{{ 7|add:1 }}"


def _assert_shown_as_text(html: str) -> None:
    assert ESCAPED in html
    assert "<script>alert(1)" not in html
    assert "{{ 7|add:1 }}" in html  # Never evaluated as a template.


def test_a_hostile_profile_shows_as_text_in_the_list(reviewer, db):
    add_fact("mallory", HOSTILE)

    _assert_shown_as_text(
        reviewer.get(reverse("profiles:profile_list")).content.decode()
    )


def test_a_hostile_profile_shows_as_text_on_the_user_page(reviewer, db):
    add_fact("mallory", HOSTILE)

    html = reviewer.get(
        reverse("profiles:user_detail", args=["mallory"])
    ).content.decode()

    _assert_shown_as_text(html)


def test_a_hostile_edit_shows_as_text_in_the_audit_log(reviewer, db):
    fact = add_fact("mallory", "harmless")
    profile_services.profile_update(profile=fact, content=HOSTILE)

    html = reviewer.get(reverse("console:audit_list")).content.decode()
    detail = AuditEvent.objects.get(action="profile_updated")
    detail_html = reviewer.get(
        reverse("console:audit_detail", args=[detail.pk])
    ).content.decode()

    _assert_shown_as_text(html.replace("\\u003c", "<"))
    assert "&lt;script&gt;" in detail_html and "<script>alert" not in detail_html


def test_a_hostile_user_id_and_interaction_show_as_text(reviewer, db):
    conversation('"><img src=x>', [HOSTILE])

    html = reviewer.get(reverse("console:interaction_list")).content.decode()

    _assert_shown_as_text(html)
    assert "<img src=x>" not in html


def test_hostile_playbooks_show_as_text(reviewer, db):
    AgentPlaybook.objects.create(
        agent_version="v1", playbook_name="p", content=HOSTILE, trigger=HOSTILE
    )
    playbook_services.user_playbook_add(
        user_id="mallory", agent_version="v1", playbook_name="p", content=HOSTILE
    )

    _assert_shown_as_text(
        reviewer.get(reverse("playbooks:agent_playbook_list")).content.decode()
    )
    _assert_shown_as_text(
        reviewer.get(reverse("playbooks:user_playbook_list")).content.decode()
    )


def test_pages_carry_a_content_security_policy_without_inline_script(reviewer, db):
    response = reviewer.get(reverse("overview"))

    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "<script>" not in response.content.decode()
    assert " onclick=" not in response.content.decode()


# Query counts: the number of queries does not grow with the rows on a page.


def _profiles(count: int, statuses: tuple[str, ...] = ("current",)) -> None:
    for n in range(count):
        add_fact(f"user-{n % 7}", f"fact {n}", statuses[n % len(statuses)])


def _user_playbooks(count: int) -> None:
    for n in range(count):
        playbook_services.user_playbook_add(
            user_id=f"user-{n % 5}",
            agent_version="v1",
            playbook_name="default_playbook_extractor",
            content=f"rule {n}",
        )


def _agent_playbooks(count: int) -> None:
    for n in range(count):
        playbook = AgentPlaybook.objects.create(
            agent_version="v1",
            playbook_name="default_playbook_extractor",
            content=f"{n}",
        )
        playbook.user_playbooks.set(
            playbook_services.user_playbook_add(
                user_id=f"u{n}-{k}",
                agent_version="v1",
                playbook_name="default_playbook_extractor",
                content=f"rule {n}.{k}",
            )
            for k in range(2)
        )


def _operations(count: int) -> None:
    for n in range(count):
        Operation.objects.create(
            kind=OperationKind.RERUN_PROFILES, scope_key=f"s{n}", status="completed"
        )
        AuditEvent.objects.create(action="operation_started", scope={"n": n})


def _interactions(count: int) -> None:
    conversation("alice", [f"turn {n}" for n in range(count)])


LIST_PAGES = [
    ("profiles:profile_list", _profiles),
    ("playbooks:user_playbook_list", _user_playbooks),
    ("playbooks:agent_playbook_list", _agent_playbooks),
    ("console:operation_list", _operations),
    ("console:audit_list", _operations),
    ("console:interaction_list", _interactions),
]


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.mark.parametrize(("name", "make"), LIST_PAGES)
def test_a_list_page_costs_the_same_for_a_few_rows_and_a_full_page(
    reviewer, db, name, make, django_assert_max_num_queries
):
    url = reverse(name)
    make(3)
    few = _queries(reviewer, url)
    make(60)

    with django_assert_max_num_queries(few):
        response = reviewer.get(url)

    assert len(response.context["page"].items) == 50


def test_tab_counts_stop_at_the_cap(reviewer, db, monkeypatch):
    monkeypatch.setattr(paging, "COUNT_CAP", 5)
    _profiles(14, ("current", "pending"))

    response = reviewer.get(reverse("profiles:profile_list"))

    tabs = {tab.value: str(tab.count) for tab in response.context["tabs"]}
    assert tabs == {"current": "5+", "pending": "5+", "archived": "0"}
    assert '<span class="count">5+</span>' in response.content.decode()


def test_a_capped_count_reads_at_most_cap_plus_one_rows(db, django_assert_num_queries):
    _profiles(4)

    with django_assert_num_queries(1) as captured:
        counts = paging.capped_counts({"all": UserProfile.objects.all()}, cap=2)

    assert str(counts["all"]) == "2+"
    assert "LIMIT 3" in captured.captured_queries[0]["sql"]


def test_the_counts_of_every_tab_come_in_one_query(db, django_assert_num_queries):
    _profiles(6, ("current", "pending"))
    profiles = UserProfile.objects.all()

    with django_assert_num_queries(1):
        counts = paging.capped_counts(
            {
                "current": profiles.filter(status="current"),
                "pending": profiles.filter(status="pending"),
                "archived": profiles.filter(status="archived"),
                "none": profiles.filter(pk__in=[]),
            },
            cap=2,
        )

    assert {key: str(count) for key, count in counts.items()} == {
        "current": "2+",
        "pending": "2+",
        "archived": "0",
        "none": "0",
    }
