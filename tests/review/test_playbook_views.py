"""The user playbook review page: grouped by user, decisions, upgrade, cost."""

import re

import pytest
from django.urls import reverse

from playbooks.models import UserPlaybook
from reflexio_admin.status import Status
from tests.factories import REFUND_CORRECTION, conversation, user_with_role
from tests.review.builders import current_rules, pending_rules

pytestmark = pytest.mark.django_db

REVIEW = reverse("playbooks:review")


@pytest.fixture
def reviewer(client):
    user = user_with_role("rita", "reviewer")
    client.force_login(user)
    return user


@pytest.fixture
def rules():
    current_rules("ana", [("When the user asks for a refund", "Quote the policy")])
    (refund,) = pending_rules(
        "ana", [("When the user asks for a refund", "Quote the policy number first")]
    )
    (angry,) = pending_rules("ben", [("When the user is angry", "Apologise once")])
    return refund, angry


def test_the_index_lists_the_pending_scopes(client, reviewer, rules):
    html = client.get(REVIEW).content.decode()

    assert "?agent_version=v2&amp;playbook_name=default_playbook_extractor" in html


def test_the_review_groups_rows_by_user_with_counts_and_diff(client, reviewer, rules):
    response = client.get(REVIEW, {"agent_version": "v2"})

    html = response.content.decode()
    assert response.status_code == 200
    assert html.index(">ana<") < html.index(">ben<")
    assert "Quote the policy <ins>number first</ins>" in html
    counts = re.sub(r"\s+", " ", html.split('id="review-counts"')[1].split("</p>")[0])
    assert "<strong>1</strong> reworded" in counts
    assert "<strong>1</strong> added" in counts
    assert html.count('name="user_ids"') == 4


def test_decisions_apply_per_item_across_users(client, reviewer, rules):
    refund, angry = rules

    response = client.post(
        reverse("playbooks:review_decide"),
        {
            "agent_version": "v2",
            "user_ids": ["ana", "ben"],
            f"decision-{refund.pk}": "accept",
            f"decision-{angry.pk}": "reject",
        },
        follow=True,
    )

    assert b"Decisions applied: 1 accepted, 1 rejected" in response.content
    refund.refresh_from_db()
    assert refund.status == Status.CURRENT
    assert not UserPlaybook.objects.filter(pk=angry.pk).exists()


def test_upgrade_all_covers_the_agent_version(client, reviewer, rules):
    response = client.post(
        reverse("playbooks:review_upgrade"), {"agent_version": "v2"}, follow=True
    )

    assert b"Upgraded 2 user(s)" in response.content
    assert not UserPlaybook.objects.filter(status=Status.PENDING).exists()


def test_a_stale_playbook_review_needs_confirmation(client, reviewer, rules):
    conversation("ana", REFUND_CORRECTION, agent_version="v2")

    response = client.post(reverse("playbooks:review_upgrade"), {"agent_version": "v2"})

    assert response.status_code == 200
    assert b"new interaction(s) arrived" in response.content
    assert UserPlaybook.objects.filter(status=Status.PENDING).count() == 2


def test_the_rerun_form_loads_its_cost_preview(client, reviewer):
    conversation("ana", REFUND_CORRECTION, agent_version="v2")

    fragment = client.get(reverse("playbooks:rerun_cost"), {"agent_version": "v2"})
    form = client.get(reverse("playbooks:rerun"))

    html = re.sub(r"\s+", " ", fragment.content.decode())
    assert "<strong>5</strong> interactions of <strong>1</strong> user" in html
    assert reverse("playbooks:rerun_cost").encode() in form.content
