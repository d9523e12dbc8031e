"""Item-by-item decisions: accept, reject, leave undecided; upgrade a review."""

import pytest

from playbooks.models import UserPlaybook
from profiles import services as profile_services
from profiles.models import ProfileGeneration, UserProfile
from reflexio_admin import review
from reflexio_admin.models import AuditEvent, DeletedItem
from reflexio_admin.review import (
    DecisionConflict,
    ReviewError,
    StaleReview,
    playbook_scope,
    profile_scope,
)
from reflexio_admin.status import Status
from tests.factories import conversation, user_with_role
from tests.review.builders import (
    by_text,
    current_facts,
    current_rules,
    pending_facts,
    pending_rules,
    statuses,
)

pytestmark = pytest.mark.django_db

CURRENT = ["Works night shifts", "Lives in Berlin", "Has a dog"]
PENDING = ["Works night shifts", "Lives in Munich", "Prefers metric units"]


@pytest.fixture
def reviewer():
    return user_with_role("rita", "reviewer")


@pytest.fixture
def ana():
    """Unchanged night shifts, Berlin reworded to Munich, dog removed, metric added."""
    current_facts("ana", CURRENT)
    pending_facts("ana", PENDING)
    return by_text("ana", Status.PENDING), by_text("ana", Status.CURRENT)


def decide(decisions, actor, **options):
    return review.apply_item_decisions(
        scope=profile_scope("ana"), decisions=decisions, actor=actor, **options
    )


def test_the_review_pairs_the_fixture_as_expected(ana):
    comparison = review.load_review(profile_scope("ana")).comparison

    assert comparison.counts.as_dict() == {
        "unchanged": 1,
        "reworded": 1,
        "added": 1,
        "removed": 1,
    }


def contents(status, user_id="ana"):
    return sorted(
        UserProfile.objects.filter(user_id=user_id, status=status).values_list(
            "content", flat=True
        )
    )


def test_accepting_promotes_the_item_and_archives_its_partner(ana, reviewer):
    pending, _ = ana
    munich = pending["Lives in Munich"]

    result = decide({munich.pk: "accept"}, reviewer)

    assert (result.accepted, result.archived) == (1, 1)
    munich.refresh_from_db()
    assert munich.status == Status.CURRENT
    assert munich.generation.status == Status.CURRENT
    berlin = UserProfile.objects.get(content="Lives in Berlin")
    assert berlin.status == berlin.generation.status == Status.ARCHIVED
    assert contents(Status.CURRENT) == [
        "Has a dog",
        "Lives in Munich",
        "Works night shifts",
    ]
    assert (
        ProfileGeneration.objects.filter(user_id="ana", status="current").count() == 1
    )


def test_the_pending_set_stays_a_complete_proposal_after_partial_decisions(
    ana, reviewer
):
    pending, current = ana

    result = decide(
        {
            pending["Lives in Munich"].pk: "accept",
            current["Has a dog"].pk: "keep",
        },
        reviewer,
    )

    # The accepted and the kept fact are carried into the pending set, so the
    # review shows them as unchanged and an upgrade keeps them live.
    assert result.carried == 2
    assert result.remaining == 1
    counts = review.load_review(profile_scope("ana")).counts
    assert counts.as_dict() == {
        "unchanged": 3,
        "reworded": 0,
        "added": 1,
        "removed": 0,
    }


def test_upgrading_after_partial_decisions_keeps_what_was_decided(ana, reviewer):
    pending, current = ana
    decide(
        {
            pending["Lives in Munich"].pk: "accept",
            pending["Prefers metric units"].pk: "reject",
            current["Has a dog"].pk: "keep",
        },
        reviewer,
    )

    review.upgrade_reviewed(scope=profile_scope("ana"), actor=reviewer)

    assert contents(Status.CURRENT) == [
        "Has a dog",
        "Lives in Munich",
        "Works night shifts",
    ]
    assert contents(Status.PENDING) == []


def test_rejecting_discards_the_item_and_keeps_a_snapshot(ana, reviewer):
    pending, _ = ana

    result = decide({pending["Prefers metric units"].pk: "reject"}, reviewer)

    assert result.rejected == 1
    assert not UserProfile.objects.filter(content="Prefers metric units").exists()
    snapshot = DeletedItem.objects.get(item_id=str(pending["Prefers metric units"].pk))
    assert snapshot.data["content"] == "Prefers metric units"
    assert snapshot.audit_event.actor_name == "rita"


def test_undecided_items_stay_pending(ana, reviewer):
    pending, _ = ana

    result = decide({pending["Prefers metric units"].pk: "accept"}, reviewer)

    assert result.remaining == 2
    for text in ("Works night shifts", "Lives in Munich"):
        pending[text].refresh_from_db()
        assert pending[text].status == Status.PENDING
    assert ProfileGeneration.objects.filter(user_id="ana", status="pending").exists()


def test_every_decision_is_audited_with_the_reviewers_name(ana, reviewer):
    pending, _ = ana

    result = decide(
        {
            pending["Lives in Munich"].pk: "accept",
            pending["Prefers metric units"].pk: "reject",
        },
        reviewer,
        ip_address="10.0.0.7",
    )

    event = AuditEvent.objects.get(pk=result.event_id)
    assert event.action == "review_profiles"
    assert event.actor_name == "rita"
    assert event.after["reviewer"] == "rita"
    assert event.ip_address == "10.0.0.7"
    assert event.scope == {"user_id": "ana"}
    assert event.counts == {"accepted": 1, "rejected": 1, "archived": 1, "kept": 0}
    decisions = {d["content"]: d for d in event.after["decisions"]}
    assert decisions["Lives in Munich"]["decision"] == "accept"
    assert decisions["Lives in Munich"]["label"] == "reworded"
    assert decisions["Lives in Munich"]["paired_content"] == "Lives in Berlin"
    assert decisions["Prefers metric units"]["decision"] == "reject"


def test_a_removed_current_item_can_be_archived_or_kept(ana, reviewer):
    _, current = ana

    decide({current["Has a dog"].pk: "archive"}, reviewer)

    assert UserProfile.objects.get(content="Has a dog").status == Status.ARCHIVED


def test_keeping_a_removed_current_item_changes_nothing_but_is_audited(ana, reviewer):
    _, current = ana

    result = decide({current["Has a dog"].pk: "keep"}, reviewer)

    assert result.kept == 1
    current["Has a dog"].refresh_from_db()
    assert current["Has a dog"].status == Status.CURRENT
    entry = AuditEvent.objects.get(pk=result.event_id).after["decisions"][0]
    assert entry["decision"] == "keep"


def test_accept_and_reject_apply_to_pending_items_only(ana, reviewer):
    _, current = ana

    with pytest.raises(DecisionConflict, match="no longer pending but current"):
        decide({current["Has a dog"].pk: "reject"}, reviewer)


def test_deciding_everything_closes_the_review_so_an_upgrade_changes_nothing(
    ana, reviewer
):
    pending, current = ana
    decide(
        {
            pending["Works night shifts"].pk: "accept",
            pending["Lives in Munich"].pk: "accept",
            pending["Prefers metric units"].pk: "reject",
            current["Has a dog"].pk: "keep",
        },
        reviewer,
    )

    assert not ProfileGeneration.objects.filter(status=Status.PENDING).exists()
    assert not review.load_review(profile_scope("ana")).has_pending
    assert not profile_services.upgrade_profiles(user_id="ana").changed
    assert set(by_text("ana", Status.CURRENT)) == {
        "Works night shifts",
        "Lives in Munich",
        "Has a dog",
    }


def test_a_fresh_review_stays_fresh_after_its_own_decisions(ana, reviewer):
    pending, _ = ana

    decide({pending["Lives in Munich"].pk: "accept"}, reviewer)

    assert not review.is_stale(profile_scope("ana"))


def test_a_decision_on_an_item_upgraded_meanwhile_is_refused_and_nothing_is_written(
    ana, reviewer
):
    pending, _ = ana
    profile_services.upgrade_profiles(user_id="ana")
    before = statuses("ana"), AuditEvent.objects.count()

    with pytest.raises(DecisionConflict, match="no longer pending but current"):
        decide({pending["Lives in Munich"].pk: "reject"}, reviewer)

    assert (statuses("ana"), AuditEvent.objects.count()) == before


def test_one_closed_item_refuses_the_whole_batch(ana, reviewer):
    pending, _ = ana
    decide({pending["Prefers metric units"].pk: "reject"}, reviewer)
    before = statuses("ana"), AuditEvent.objects.count()

    with pytest.raises(DecisionConflict, match="no longer exists"):
        decide(
            {
                pending["Lives in Munich"].pk: "accept",
                pending["Prefers metric units"].pk: "accept",
            },
            reviewer,
        )

    assert (statuses("ana"), AuditEvent.objects.count()) == before


def test_a_paired_current_item_cannot_be_decided_on_directly(ana, reviewer):
    _, current = ana

    with pytest.raises(DecisionConflict, match="paired with a pending item"):
        decide({current["Lives in Berlin"].pk: "archive"}, reviewer)


def test_an_item_of_another_scope_is_refused(ana, reviewer):
    (other,) = pending_facts("ben", ["Lives in Paris"])

    with pytest.raises(DecisionConflict, match="not part of this review"):
        decide({other.pk: "accept"}, reviewer)


def test_a_changed_review_refuses_decisions_read_before_the_change(ana, reviewer):
    pending, current = ana
    digest = review.load_review(profile_scope("ana")).digest
    profile_services.profile_update(profile=current["Has a dog"], content="Has 2 dogs")

    with pytest.raises(DecisionConflict, match="changed since you opened it"):
        decide(
            {pending["Lives in Munich"].pk: "accept"},
            reviewer,
            expected_digest=digest,
            confirm_stale=True,
        )


def test_a_stale_review_needs_confirmation_for_decisions(ana, reviewer):
    pending, _ = ana
    conversation("ana", ["Something new."])

    munich = pending["Lives in Munich"]

    with pytest.raises(StaleReview, match="new interaction"):
        decide({munich.pk: "accept"}, reviewer)
    munich.refresh_from_db()
    assert munich.status == "pending"

    decide({munich.pk: "accept"}, reviewer, confirm_stale=True)
    munich.refresh_from_db()
    assert munich.status == "current"


@pytest.mark.parametrize(
    ("decisions", "message"),
    [({}, "at least one"), ({1: "maybe"}, "accept or reject"), ({"x": "accept"}, "id")],
)
def test_malformed_decisions_are_refused(decisions, message, reviewer):
    with pytest.raises(ReviewError, match=message):
        decide(decisions, reviewer)


def test_playbook_decisions_work_per_user_within_an_agent_version(reviewer):
    current_rules("ana", [("When the user asks for a refund", "Quote the policy")])
    pending = pending_rules(
        "ana", [("When the user asks for a refund", "Quote the policy number first")]
    )
    other = pending_rules("ben", [("When the user is angry", "Apologise once")])

    result = review.apply_item_decisions(
        scope=playbook_scope("v2"),
        decisions={pending[0].pk: "accept", other[0].pk: "reject"},
        actor=reviewer,
    )

    assert (result.accepted, result.rejected, result.archived) == (1, 1, 1)
    rows = dict(UserPlaybook.objects.values_list("content", "status"))
    assert rows == {
        "Quote the policy number first": "current",
        "Quote the policy": "archived",
    }


class TestUpgradeReviewed:
    def test_a_fresh_review_upgrades_without_confirmation(self, ana, reviewer):
        result = review.upgrade_reviewed(scope=profile_scope("ana"), actor=reviewer)

        assert result.promoted == 3
        assert set(by_text("ana", Status.CURRENT)) == set(PENDING)

    def test_a_stale_review_is_not_upgraded_without_confirmation(self, ana, reviewer):
        profile_services.profile_add(user_id="ana", content="Has a cat")
        before = statuses("ana")

        with pytest.raises(StaleReview, match="CURRENT changed"):
            review.upgrade_reviewed(scope=profile_scope("ana"), actor=reviewer)

        assert statuses("ana") == before

    def test_a_stale_review_is_upgraded_once_confirmed(self, ana, reviewer):
        profile_services.profile_add(user_id="ana", content="Has a cat")

        result = review.upgrade_reviewed(
            scope=profile_scope("ana"), actor=reviewer, confirm_stale=True
        )

        assert result.promoted == 3
