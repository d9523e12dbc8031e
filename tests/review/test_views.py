"""The profile review pages: comparison, decisions, upgrade, summary, cost."""

import re

import pytest
from django.urls import reverse

from profiles import services as profile_services
from profiles.models import UserProfile
from reflexio_admin.models import AuditEvent
from reflexio_admin.status import Status
from tests.factories import conversation, user_with_role
from tests.review.builders import by_text, current_facts, pending_facts, statuses

pytestmark = pytest.mark.django_db

REVIEW = reverse("profiles:review")


@pytest.fixture
def reviewer(client):
    user = user_with_role("rita", "reviewer")
    client.force_login(user)
    return user


@pytest.fixture
def ana():
    (turn_request,) = [conversation("ana", ["I live in Munich now.", "Thanks."])]
    turn_ids = list(turn_request.interactions.values_list("pk", flat=True))
    current_facts("ana", ["Works night shifts", "Lives in Berlin", "Has a dog"])
    pending_facts(
        "ana",
        ["Works night shifts", "Lives in Munich", "Likes <script>alert(1)</script>"],
        source_interaction_ids=turn_ids[:1],
    )
    return by_text("ana", Status.PENDING), by_text("ana", Status.CURRENT)


def test_the_review_shows_pairs_counts_and_a_word_diff(client, reviewer, ana):
    response = client.get(REVIEW, {"user_id": "ana"})

    assert response.status_code == 200
    html = response.content.decode()
    counts = re.sub(r"\s+", " ", html.split('id="review-counts"')[1].split("</p>")[0])
    assert "<strong>1</strong> reworded" in counts
    assert "<strong>1</strong> added" in counts
    assert "<strong>1</strong> removed" in counts
    assert "<strong>1</strong> unchanged" in counts
    assert "Lives in <del>Berlin</del> <ins>Munich</ins>" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html


def test_each_item_links_to_its_provenance(client, reviewer, ana):
    html = client.get(REVIEW, {"user_id": "ana"}).content.decode()

    assert "I live in Munich now." in html
    assert "1 interaction" in html
    assert "session_id=session-1" in html
    assert "added by hand" in html


def test_an_item_made_by_a_rerun_links_to_its_operation(client, reviewer):
    conversation("ben", ["I work night shifts."])
    operation = profile_services.rerun_profile_generation(user_id="ben")

    html = client.get(REVIEW, {"user_id": "ben"}).content.decode()

    assert reverse("console:operation_detail", args=[operation.pk]) in html
    assert "user_id=ben" in html


def test_a_viewer_sees_the_review_but_cannot_decide(client, ana):
    client.force_login(user_with_role("vic", "viewer"))

    response = client.get(REVIEW, {"user_id": "ana"})
    post = client.post(reverse("profiles:review_decide"), {"user_id": "ana"})

    assert response.status_code == 200
    assert b'type="radio"' not in response.content
    assert b"Apply decisions" not in response.content
    assert post.status_code == 403


def test_decisions_apply_and_the_result_shows_the_new_statuses(client, reviewer, ana):
    pending, _ = ana
    munich = pending["Lives in Munich"]
    script = pending["Likes <script>alert(1)</script>"]
    digest = client.get(REVIEW, {"user_id": "ana"}).context["found"].digest

    response = client.post(
        reverse("profiles:review_decide"),
        {
            "user_id": "ana",
            "extractor": "",
            "digest": digest,
            f"decision-{munich.pk}": "accept",
            f"decision-{script.pk}": "reject",
            f"decision-{pending['Works night shifts'].pk}": "",
        },
        follow=True,
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "Decisions applied: 1 accepted, 1 rejected" in html
    result = html.split('id="review-result"')[1].split("</section>")[0]
    assert "Lives in Munich" in result and "current" in result
    assert "discarded" in result
    munich.refresh_from_db()
    assert munich.status == Status.CURRENT
    assert not UserProfile.objects.filter(pk=script.pk).exists()
    event = AuditEvent.objects.get(action="review_profiles")
    assert event.actor_name == "rita"


def test_a_refused_batch_keeps_the_choices_and_says_why(client, reviewer, ana):
    pending, _ = ana
    munich = pending["Lives in Munich"]
    profile_services.upgrade_profiles(user_id="ana")
    before = statuses("ana")

    response = client.post(
        reverse("profiles:review_decide"),
        {"user_id": "ana", f"decision-{munich.pk}": "reject"},
    )

    assert response.status_code == 200
    assert b"no longer pending but current" in response.content
    assert statuses("ana") == before


def test_a_review_changed_since_it_was_opened_refuses_decisions(client, reviewer, ana):
    pending, current = ana
    digest = client.get(REVIEW, {"user_id": "ana"}).context["found"].digest
    profile_services.profile_update(profile=current["Has a dog"], content="Has 2 dogs")

    response = client.post(
        reverse("profiles:review_decide"),
        {
            "user_id": "ana",
            "digest": digest,
            "confirm_stale": "1",
            f"decision-{pending['Lives in Munich'].pk}": "accept",
        },
    )

    assert response.status_code == 200
    assert b"changed since you opened it" in response.content
    assert response.context["error"]
    # The reviewer's choice is still selected on the page shown again.
    assert b'value="accept" checked' in response.content


class TestUpgradeAll:
    def test_a_fresh_review_upgrades_in_one_click(self, client, reviewer, ana):
        response = client.post(
            reverse("profiles:review_upgrade"), {"user_id": "ana"}, follow=True
        )

        assert b"Upgraded 1 user(s): 3 pending became current" in response.content
        assert set(by_text("ana", Status.CURRENT)) == {
            "Works night shifts",
            "Lives in Munich",
            "Likes <script>alert(1)</script>",
        }

    def test_a_stale_review_says_why_and_changes_nothing(self, client, reviewer, ana):
        conversation("ana", ["I moved again."])
        before = statuses("ana")

        response = client.post(reverse("profiles:review_upgrade"), {"user_id": "ana"})

        assert response.status_code == 200
        html = response.content.decode()
        assert "This review is stale" in html
        assert "new interaction(s) arrived" in html
        assert 'id="upgrade-anyway"' in html
        assert statuses("ana") == before

    def test_a_stale_review_upgrades_once_confirmed(self, client, reviewer, ana):
        conversation("ana", ["I moved again."])

        client.post(
            reverse("profiles:review_upgrade"),
            {"user_id": "ana", "confirm_stale": "1"},
        )

        assert not UserProfile.objects.filter(status=Status.PENDING).exists()


def test_the_page_warns_when_stale_before_anyone_approves(client, reviewer, ana):
    profile_services.profile_add(user_id="ana", content="Has a cat")

    html = client.get(REVIEW, {"user_id": "ana"}).content.decode()

    assert 'id="review-stale"' in html
    assert "CURRENT changed since the pending set was made" in html
    assert 'id="confirm-stale"' in html


def test_the_index_lists_users_most_changed_first_with_a_summary_line(client, reviewer):
    current_facts("ana", ["Works night shifts"])
    pending_facts("ana", ["Works night shifts"])
    current_facts("ben", ["Lives in Paris", "Has a cat"])
    pending_facts("ben", ["Lives in Lyon", "Prefers tea", "Speaks French"])

    response = client.get(REVIEW)

    html = response.content.decode()
    assert html.index(">ben<") < html.index(">ana<")
    assert html.count("data-review-summary") == 2
    assert "<strong>1</strong> unchanged" in html


def test_the_summary_fragment_and_its_hook_on_the_user_page(client, reviewer, ana):
    fragment = client.get(reverse("profiles:review_summary"), {"user_id": "ana"})
    nothing = client.get(reverse("profiles:review_summary"), {"user_id": "zed"})
    user_page = client.get(reverse("profiles:user_detail", args=["ana"]))

    assert b"data-review-summary" in fragment.content
    assert b"<strong>1</strong> reworded" in fragment.content
    assert b"data-review-summary" not in nothing.content
    assert reverse("profiles:review_summary").encode() in user_page.content


def test_the_rerun_form_loads_the_cost_preview(client, reviewer):
    conversation("ana", ["I work night shifts.", "Thanks."])

    fragment = client.get(reverse("profiles:rerun_cost"), {"user_id": "ana"})
    form = client.get(reverse("profiles:rerun"))

    html = re.sub(r"\s+", " ", fragment.content.decode())
    assert "<strong>2</strong> interactions of <strong>1</strong> user" in html
    assert "offline-heuristics" in html
    assert reverse("profiles:rerun_cost").encode() in form.content


def test_the_review_page_needs_few_queries(
    client, reviewer, ana, django_assert_max_num_queries
):
    for index in range(20):
        profile_services.profile_add(user_id="ana", content=f"Fact number {index}")
    pending_facts("ana", [f"Fact number {index}!" for index in range(20)])

    with django_assert_max_num_queries(14):
        client.get(REVIEW, {"user_id": "ana"})


def test_the_profile_list_filtered_by_user_loads_the_summary_line(
    client, reviewer, ana
):
    filtered = client.get(reverse("profiles:profile_list"), {"user_id": "ana"})
    unfiltered = client.get(reverse("profiles:profile_list"))

    summary = f"{reverse('profiles:review_summary')}?user_id=ana"
    assert summary.encode() in filtered.content
    assert reverse("profiles:review_summary").encode() not in unfiltered.content
