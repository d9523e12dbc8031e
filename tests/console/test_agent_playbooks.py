"""Agent playbooks: approve, reject and edit in place; aggregation from the console."""

import pytest
from django.urls import reverse

from playbooks import selectors, views
from playbooks.models import (
    AgentPlaybook,
    Approval,
    PlaybookGeneration,
    UserPlaybook,
)
from reflexio_admin import roles
from reflexio_admin.models import AuditEvent, Operation, OperationKind
from reflexio_admin.status import Status
from reflexio_admin.views.paging import SEARCH_COUNT_CAP, CappedCount
from tests.console.conftest import HTMX


@pytest.fixture
def proposal(db) -> AgentPlaybook:
    return AgentPlaybook.objects.create(
        agent_version="agent-v0",
        playbook_name="default_playbook_extractor",
        trigger="the user asks for a refund",
        content="Refund to the card, not store credit.",
    )


def test_approving_in_place_returns_the_updated_card(reviewer, proposal):
    response = reviewer.post(
        reverse("playbooks:agent_playbook_approve", args=[proposal.pk]), **HTMX
    )

    proposal.refresh_from_db()
    html = response.content.decode()
    assert html.strip().startswith(
        f'<article class="item" id="agent-playbook-{proposal.pk}"'
    )
    assert 'data-approval="approved"' in html
    assert "approved by reviewer-user" in html
    assert proposal.approval == Approval.APPROVED
    assert proposal.reviewed_by.username == "reviewer-user"
    assert (
        AuditEvent.objects.get(action="agent_playbook_approved").after["approval"]
        == "approved"
    )


def test_rejecting_without_htmx_goes_back_to_the_page(reviewer, proposal):
    response = reviewer.post(
        reverse("playbooks:agent_playbook_reject", args=[proposal.pk]),
        {"next": "/playbooks/agent/?approval=pending"},
    )

    proposal.refresh_from_db()
    assert response["Location"] == "/playbooks/agent/?approval=pending"
    assert proposal.approval == Approval.REJECTED


def test_approval_needs_a_post(reviewer, proposal):
    response = reviewer.get(
        reverse("playbooks:agent_playbook_approve", args=[proposal.pk])
    )

    assert response.status_code == 405


def test_editing_in_place_saves_the_text_and_audits_it(reviewer, proposal):
    form = reviewer.get(
        reverse("playbooks:agent_playbook_edit", args=[proposal.pk]), **HTMX
    )
    response = reviewer.post(
        reverse("playbooks:agent_playbook_edit", args=[proposal.pk]),
        {
            "trigger": "a refund is asked for",
            "content": "Refund to the original card.",
            "rationale": "Customers asked for it.",
        },
        **HTMX,
    )

    proposal.refresh_from_db()
    event = AuditEvent.objects.get(action="agent_playbook_edited")
    assert "<textarea" in form.content.decode()
    assert "Refund to the original card." in response.content.decode()
    assert proposal.content == "Refund to the original card."
    assert event.before["content"] == "Refund to the card, not store credit."


def test_an_empty_rule_is_refused_on_the_form(reviewer, proposal):
    response = reviewer.post(
        reverse("playbooks:agent_playbook_edit", args=[proposal.pk]),
        {"content": ""},
        **HTMX,
    )

    assert 'id="id_content_error"' in response.content.decode()


def test_cancel_of_an_edit_brings_the_card_back(reviewer, proposal):
    response = reviewer.get(
        reverse("playbooks:agent_playbook_detail", args=[proposal.pk]), **HTMX
    )

    assert response.content.decode().strip().startswith("<article")


def test_the_list_pages_by_approval_and_shows_sources(reviewer, playbooks_of_two_users):
    reviewer.post(
        reverse("playbooks:aggregate"),
        {"agent_version": "agent-v0", "playbook_name": "default_playbook_extractor"},
    )

    response = reviewer.get(reverse("playbooks:agent_playbook_list"))

    html = response.content.decode()
    proposal = AgentPlaybook.objects.get()
    assert [tab.count.value for tab in response.context["tabs"]] == [1, 0, 0]
    assert f'id="agent-playbook-{proposal.pk}"' in html
    assert "Made from 2 user playbooks" in html
    sources = reverse("playbooks:agent_playbook_sources", args=[proposal.pk])
    assert f'hx-get="{sources}"' in html
    opened = reviewer.get(sources, **HTMX).content.decode()
    assert ">ana</a>" in opened and ">ben</a>" in opened


def _rules(count: int, *, refunds_every: int = 1) -> None:
    """`count` agent playbooks, alternately approved and pending."""
    AgentPlaybook.objects.bulk_create(
        [
            AgentPlaybook(
                agent_version="agent-v0",
                playbook_name="default_playbook_extractor",
                trigger=f"case {n}",
                content="Offer a REFUND first."
                if n % refunds_every == 0
                else "Escalate to a human.",
                approval=Approval.APPROVED if n % 2 else Approval.PENDING,
            )
            for n in range(count)
        ]
    )


def _search_tabs(client, text: str) -> dict[str, CappedCount]:
    response = client.get(reverse("playbooks:agent_playbook_list"), {"q": text})
    return {tab.value: tab.count for tab in response.context["tabs"]}


def test_a_text_search_counts_every_tab_exactly(reviewer, db):
    _rules(9 * SEARCH_COUNT_CAP, refunds_every=3)
    matching = AgentPlaybook.objects.filter(content__icontains="refund")

    tabs = _search_tabs(reviewer, "refund")

    for approval in Approval.values:
        expected = matching.filter(approval=approval).count()
        assert (tabs[approval].value, tabs[approval].capped) == (expected, False)
    assert tabs[Approval.PENDING].value > SEARCH_COUNT_CAP


def test_a_search_matching_very_many_rules_shows_lower_bounds(
    reviewer, db, monkeypatch
):
    monkeypatch.setattr(views, "AGENT_SEARCH_COUNT_CAP", 10)
    _rules(40)

    tabs = _search_tabs(reviewer, "refund")

    assert all(count.capped for count in tabs.values())
    assert sum(count.value for count in tabs.values()) == 11
    for approval, count in tabs.items():
        assert count.value <= AgentPlaybook.objects.filter(approval=approval).count()
    page = reviewer.get(reverse("playbooks:agent_playbook_list"), {"q": "refund"})
    assert f"{tabs[Approval.PENDING]}" in page.content.decode()


def test_the_sources_of_a_card_without_htmx_are_on_the_playbook_page(
    reviewer, proposal
):
    response = reviewer.get(
        reverse("playbooks:agent_playbook_sources", args=[proposal.pk])
    )

    detail = reverse("playbooks:agent_playbook_detail", args=[proposal.pk])
    assert response["Location"] == f"{detail}#sources"
    assert 'id="sources"' in reviewer.get(detail).content.decode()


def test_an_opened_card_shows_the_first_sources_and_links_to_all(reviewer, db):
    scope = {"agent_version": "agent-v0", "playbook_name": "default_playbook_extractor"}
    made_from = [
        _user_playbook(f"user-{n}", f"Rule {n}", scope)
        for n in range(selectors.SOURCES_SHOWN + 2)
    ]
    proposal = AgentPlaybook.objects.create(
        content="One rule for all.",
        source_user_playbook_ids=[p.pk for p in made_from],
        **scope,
    )
    made_from[0].delete()

    html = reviewer.get(
        reverse("playbooks:agent_playbook_sources", args=[proposal.pk]), **HTMX
    ).content.decode()

    assert html.count("<li>") == selectors.SOURCES_SHOWN
    assert "Rule 0<" not in html and "Rule 1<" in html
    assert "All of them" in html


def _user_playbook(user_id: str, content: str, scope: dict) -> UserPlaybook:
    generation = PlaybookGeneration.objects.create(
        user_id=user_id, status=Status.CURRENT, **scope
    )
    return UserPlaybook.objects.create(
        user_id=user_id,
        generation=generation,
        content=content,
        status=Status.CURRENT,
        **scope,
    )


@pytest.mark.parametrize("user_id", ["ana maría", "team/ben", "50%+off", "ünï?#"])
def test_card_links_lead_to_the_source_user_and_the_playbook(reviewer, user_id):
    scope = {"agent_version": "agent-v0", "playbook_name": "default_playbook_extractor"}
    playbook = _user_playbook(user_id, "Refund to the card.", scope)
    proposal = AgentPlaybook.objects.create(
        content="Refund to the card, not store credit.",
        source_user_playbook_ids=[playbook.pk],
        **scope,
    )

    html = reviewer.get(reverse("playbooks:agent_playbook_list")).content.decode()
    opened = reviewer.get(
        reverse("playbooks:agent_playbook_sources", args=[proposal.pk]), **HTMX
    ).content.decode()

    user_page = reverse("profiles:user_detail", args=[user_id])
    assert f'<a href="{user_page}">' in opened
    followed = reviewer.get(user_page)
    assert followed.status_code == 200
    assert followed.context["user_id"] == user_id
    for action in ("detail", "sources", "approve", "reject", "edit"):
        url = reverse(f"playbooks:agent_playbook_{action}", args=[proposal.pk])
        assert f'"{url}"' in html


def test_a_viewer_sees_cards_without_decision_buttons(client_as, proposal):
    viewer = client_as(roles.VIEWER)

    html = viewer.get(reverse("playbooks:agent_playbook_list")).content.decode()

    assert f'id="agent-playbook-{proposal.pk}"' in html
    assert "Approve</button>" not in html and "Reject</button>" not in html


def test_the_aggregation_form_previews_what_it_would_do(
    reviewer, playbooks_of_two_users
):
    response = reviewer.get(
        reverse("playbooks:aggregate"),
        {"agent_version": "agent-v0", "playbook_name": "default_playbook_extractor"},
    )

    html = response.content.decode()
    assert "2 current user playbooks of agent-v0 / default_playbook_extractor" in html
    assert "the 0 approved are never replaced" in html
    assert "Run aggregation" in html


def test_aggregation_that_cannot_run_says_exactly_why(reviewer, db):
    preview = reviewer.get(
        reverse("playbooks:aggregate"),
        {"agent_version": "agent-v0", "playbook_name": "default_playbook_extractor"},
    )
    started = reviewer.post(
        reverse("playbooks:aggregate"),
        {"agent_version": "agent-v0", "playbook_name": "default_playbook_extractor"},
        **HTMX,
    )

    assert "Only 0 current user playbook(s)" in preview.content.decode()
    assert "Only 0 current user playbook(s)" in started.content.decode()
    assert not Operation.objects.exists()


def test_aggregation_starts_and_shows_its_progress(reviewer, playbooks_of_two_users):
    response = reviewer.post(
        reverse("playbooks:aggregate"),
        {"agent_version": "agent-v0", "playbook_name": "default_playbook_extractor"},
        **HTMX,
    )

    operation = Operation.objects.get(kind=OperationKind.AGGREGATE_PLAYBOOKS)
    assert operation.status == "completed"
    assert "<progress" in response.content.decode()
    assert "Agent playbooks" in response.content.decode()


def test_the_agent_version_filter_loads_its_suggestions_when_focused(
    client_as, playbooks_of_two_users
):
    viewer = client_as(roles.VIEWER)
    page = viewer.get(reverse("playbooks:agent_playbook_list")).content.decode()
    options_url = reverse("playbooks:agent_versions")

    assert '<datalist id="agent-versions"></datalist>' in page
    assert f'hx-get="{options_url}"' in page
    options = viewer.get(options_url, **HTMX).content.decode()
    assert '<option value="agent-v0">' in options


def test_agent_version_suggestions_are_escaped(client_as, db):
    hostile = 'v"><script>'
    generation = PlaybookGeneration.objects.create(
        agent_version=hostile,
        user_id="ana",
        playbook_name="default_playbook_extractor",
        status=Status.CURRENT,
    )
    UserPlaybook.objects.create(
        generation=generation,
        agent_version=hostile,
        user_id="ana",
        playbook_name="default_playbook_extractor",
        status=Status.CURRENT,
        content="Say hello.",
    )

    options = client_as(roles.VIEWER).get(reverse("playbooks:agent_versions"))

    assert "<script>" not in options.content.decode()
    assert "&quot;&gt;&lt;script&gt;" in options.content.decode()
