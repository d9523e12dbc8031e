"""Markup, script and template syntax in stored text always show as text.

tests/console/test_escaping_and_queries.py covers the lists, the user page,
the interactions page and the audit list; these cover the rest: the review
diffs, agent playbook pages, operation errors, htmx fragments and the audit
detail of a review decision, with a user id that also holds markup and "/".
"""

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from playbooks import services as playbook_services
from playbooks.models import AgentPlaybook, Approval
from reflexio_admin import review
from reflexio_admin.models import (
    AuditEvent,
    Operation,
    OperationKind,
    OperationStatus,
    OperationUser,
)
from reflexio_admin.review import profile_scope
from reflexio_admin.status import Status
from tests.factories import conversation
from tests.review.builders import (
    by_text,
    current_facts,
    current_rules,
    pending_facts,
    pending_rules,
)

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert(1)</script>"
TEMPLATE = "{{ 7|add:1 }}{% debug %}"
HOSTILE = f"{SCRIPT} {TEMPLATE} <img src=x onerror=alert(2)>"
# A user id with markup, quotes and a slash, as the API accepts.
MALLORY = '"><b>mallory</b>/x'


def assert_text_only(html: str) -> None:
    assert SCRIPT not in html
    assert "<img src=x" not in html
    assert "<b>mallory</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # Template syntax is shown, never evaluated ({% debug %} would dump the
    # context; add:1 would print 8).
    assert "add:1" in html
    assert "{% debug %}" in html
    assert "sql_queries" not in html


@pytest.fixture
def reviewer(db) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("rita", password="x"))
    return client


def page(client: Client, url: str, **headers) -> str:
    response = client.get(url, **headers)
    # 286 is htmx's "stop polling", for the progress of a finished run.
    assert response.status_code in {200, 286}, url
    return response.content.decode()


def test_a_hostile_reworded_pair_shows_as_text_in_the_profile_review(reviewer):
    current_facts(MALLORY, [f"Lives in Berlin {HOSTILE}"])
    pending_facts(MALLORY, [f"Lives in Munich {HOSTILE}"])

    html = page(
        reviewer, reverse("profiles:review") + "?" + urlencode({"user_id": MALLORY})
    )

    assert "<del>" in html and "<ins>" in html
    assert_text_only(html)


def test_a_hostile_rule_shows_as_text_in_the_playbook_review(reviewer):
    current_rules(MALLORY, [(f"refund {HOSTILE}", "Quote the policy")])
    pending_rules(MALLORY, [(f"refund {HOSTILE}", f"Quote the policy {HOSTILE}")])

    html = page(reviewer, f"{reverse('playbooks:review')}?agent_version=v2")

    assert_text_only(html)


def test_a_hostile_agent_playbook_shows_as_text_on_its_pages(reviewer):
    decided_by = User.objects.create(username=MALLORY)
    source = playbook_services.user_playbook_add(
        user_id=MALLORY,
        agent_version=HOSTILE,
        playbook_name="default_playbook_extractor",
        content=HOSTILE,
    )
    playbook = AgentPlaybook.objects.create(
        agent_version=HOSTILE,
        playbook_name="default_playbook_extractor",
        trigger=HOSTILE,
        content=HOSTILE,
        rationale=HOSTILE,
        approval=Approval.REJECTED,
        reviewed_by=decided_by,
        reviewed_at=timezone.now(),
        source_user_playbook_ids=[source.pk],
    )

    for name in ("agent_playbook_detail", "agent_playbook_edit"):
        url = reverse(f"playbooks:{name}", args=[playbook.pk])
        assert_text_only(page(reviewer, url))
        assert_text_only(page(reviewer, url, HTTP_HX_REQUEST="true"))
    listed = page(
        reviewer, f"{reverse('playbooks:agent_playbook_list')}?approval=rejected"
    )
    assert_text_only(listed)
    assert "rejected by &quot;&gt;&lt;b&gt;mallory&lt;/b&gt;/x" in listed
    sources = reverse("playbooks:agent_playbook_sources", args=[playbook.pk])
    opened = page(reviewer, sources, HTTP_HX_REQUEST="true")
    assert "<b>mallory</b>" not in opened and "&lt;script&gt;" in opened


def test_hostile_operation_errors_show_as_text(reviewer):
    operation = Operation.objects.create(
        kind=OperationKind.RERUN_PROFILES,
        scope_key="profiles/*",
        params={"user_id": MALLORY, "source": HOSTILE},
        status=OperationStatus.FAILED,
        error_message=HOSTILE,
    )
    OperationUser.objects.create(
        operation=operation, user_id=MALLORY, state="failed", error=HOSTILE
    )

    detail = reverse("console:operation_detail", args=[operation.pk])
    assert_text_only(page(reviewer, detail))
    assert_text_only(page(reviewer, reverse("console:operation_list")))
    progress = reverse("console:operation_progress", args=[operation.pk])
    fragment = page(reviewer, progress, HTTP_HX_REQUEST="true")
    assert SCRIPT not in fragment and "<img src=x" not in fragment


def test_a_hostile_user_id_and_conversation_show_as_text(reviewer):
    conversation(MALLORY, [HOSTILE], source=HOSTILE[:100], session_id=HOSTILE[:100])
    current_facts(MALLORY, [HOSTILE])

    assert_text_only(page(reviewer, reverse("console:interaction_list")))
    assert_text_only(page(reviewer, reverse("profiles:user_detail", args=[MALLORY])))
    assert_text_only(page(reviewer, reverse("profiles:profile_list")))


def test_a_hostile_fact_shows_as_text_in_its_htmx_fragments(reviewer):
    (fact,) = current_facts(MALLORY, [HOSTILE])

    for name in ("profile_detail", "profile_edit"):
        url = reverse(f"profiles:{name}", args=[fact.pk])
        assert_text_only(page(reviewer, url, HTTP_HX_REQUEST="true"))


def test_a_hostile_review_decision_shows_as_text_in_the_audit_detail(reviewer):
    current_facts(MALLORY, [f"Lives in Berlin {HOSTILE}"])
    pending_facts(MALLORY, [f"Lives in Munich {HOSTILE}"])
    pending = by_text(MALLORY, Status.PENDING)
    review.apply_item_decisions(
        scope=profile_scope(MALLORY),
        decisions={item.pk: "accept" for item in pending.values()},
        actor=User.objects.get(username="rita"),
    )
    event = AuditEvent.objects.get(action="review_profiles")

    assert_text_only(page(reviewer, reverse("console:audit_detail", args=[event.pk])))
    assert_text_only(page(reviewer, reverse("console:audit_list")))
