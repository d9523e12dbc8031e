"""Reviewers deciding on the same scope at once, on real database connections."""

import pytest

from profiles import services as profile_services
from profiles.models import ProfileGeneration, UserProfile
from reflexio_admin import review
from reflexio_admin.models import AuditEvent
from reflexio_admin.review import profile_scope
from reflexio_admin.status import Status
from tests.concurrency import at_once
from tests.factories import user_with_role
from tests.review.builders import by_text, current_facts, pending_facts

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

ROUNDS = 5


def setup_review(user_id):
    current_facts(user_id, ["Works night shifts", "Lives in Berlin", "Has a dog"])
    pending_facts(
        user_id, ["Works the night shift", "Lives in Munich", "Prefers metric units"]
    )
    return by_text(user_id, Status.PENDING)


def decide(user_id, decisions, actor):
    return lambda: review.apply_item_decisions(
        scope=profile_scope(user_id), decisions=decisions, actor=actor
    )


def assert_consistent(user_id, result=None):
    """Every item sits in the generation of its status, one live generation,
    and the counts per status add up from the three and three we started with."""
    rows = UserProfile.objects.filter(user_id=user_id)
    for item in rows.select_related("generation"):
        assert item.generation.status == item.status
    assert (
        ProfileGeneration.objects.filter(user_id=user_id, status="current").count() == 1
    )
    if result is not None:
        by_status = {
            status: rows.filter(status=status).count()
            for status in ("pending", "current", "archived")
        }
        assert by_status["current"] == 3 - result.archived + result.accepted
        assert by_status["archived"] == result.archived
        expected_pending = 3 - result.accepted - result.rejected + result.carried
        assert by_status["pending"] == (expected_pending if result.remaining else 0)


def events(user_id):
    return AuditEvent.objects.filter(action="review_profiles", scope__user_id=user_id)


def test_the_same_batch_from_two_reviewers_applies_exactly_once():
    rita, ravi = user_with_role("rita", "reviewer"), user_with_role("ravi", "reviewer")
    for round_number in range(ROUNDS):
        user_id = f"ana{round_number}"
        pending = setup_review(user_id)
        batch = {
            pending["Lives in Munich"].pk: "accept",
            pending["Prefers metric units"].pk: "reject",
        }

        outcomes = at_once(decide(user_id, batch, rita), decide(user_id, batch, ravi))

        assert sorted(kind for kind, _ in outcomes) == ["ok", "refused"]
        assert events(user_id).count() == 1
        (result,) = [result for kind, result in outcomes if kind == "ok"]
        assert_consistent(user_id, result)
        munich = UserProfile.objects.get(pk=pending["Lives in Munich"].pk)
        assert munich.status == Status.CURRENT
        berlin = UserProfile.objects.get(user_id=user_id, content="Lives in Berlin")
        assert berlin.status == Status.ARCHIVED


def test_overlapping_batches_never_apply_one_item_twice():
    rita, ravi = user_with_role("rita", "reviewer"), user_with_role("ravi", "reviewer")
    for round_number in range(ROUNDS):
        user_id = f"ben{round_number}"
        pending = setup_review(user_id)
        munich = pending["Lives in Munich"].pk
        first = {munich: "accept", pending["Prefers metric units"].pk: "reject"}
        second = {munich: "reject", pending["Works the night shift"].pk: "accept"}

        outcomes = at_once(decide(user_id, first, rita), decide(user_id, second, ravi))

        applied = [result for kind, result in outcomes if kind == "ok"]
        refused = [exc for kind, exc in outcomes if kind == "refused"]
        assert len(applied) == 1 and len(refused) == 1
        assert "Nothing was changed" in str(refused[0])
        assert events(user_id).count() == 1
        assert_consistent(user_id, applied[0])
        winner = events(user_id).get()
        decided = {d["pk"]: d["decision"] for d in winner.after["decisions"]}
        assert decided in (first, second)
        # The item both batches named ended as the winner said, not both ways.
        statuses = set(
            UserProfile.objects.filter(pk=munich).values_list("status", flat=True)
        )
        assert statuses == ({"current"} if decided[munich] == "accept" else set())


def test_decisions_and_an_upgrade_at_once_leave_one_consistent_state():
    rita = user_with_role("rita", "reviewer")
    for round_number in range(ROUNDS):
        user_id = f"cat{round_number}"
        pending = setup_review(user_id)
        batch = {
            pending["Lives in Munich"].pk: "accept",
            pending["Prefers metric units"].pk: "reject",
        }

        outcomes = at_once(
            decide(user_id, batch, rita),
            lambda uid=user_id: profile_services.upgrade_profiles(user_id=uid),
        )

        decision_kind, upgrade_result = outcomes[0][0], outcomes[1][1]
        assert outcomes[1][0] == "ok"
        assert upgrade_result.changed
        assert not UserProfile.objects.filter(
            user_id=user_id, status="pending"
        ).exists()
        current = set(
            UserProfile.objects.filter(user_id=user_id, status="current").values_list(
                "content", flat=True
            )
        )
        if decision_kind == "ok":
            # Decisions first: the upgrade promoted what was left undecided
            # and kept what was accepted.
            assert current == {"Works the night shift", "Lives in Munich"}
            assert_consistent(user_id)
        else:
            # The upgrade first: the decisions found nothing pending.
            assert current == {
                "Works the night shift",
                "Lives in Munich",
                "Prefers metric units",
            }
            assert events(user_id).count() == 0
            assert_consistent(user_id)
