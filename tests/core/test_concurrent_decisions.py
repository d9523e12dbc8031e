"""Two reviewers clicking at the same moment, on two real database connections."""

import threading

import pytest
from django.db import connection

from playbooks import services as playbook_services
from profiles import services as profile_services
from profiles.models import ProfileGeneration, UserProfile
from reflexio_admin.models import AuditEvent
from reflexio_admin.status import Status
from tests.factories import REFUND_CORRECTION, conversation

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

ROUNDS = 10


def at_once(action, count=2):
    """Run `action` in `count` threads released together; return their results."""
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list = []

    def run(index):
        try:
            barrier.wait(timeout=10)
            results[index] = action()
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    return results


def live_generations_per_user() -> dict[str, int]:
    counts: dict[str, int] = {}
    for user_id in UserProfile.objects.values_list("user_id", flat=True).distinct():
        counts[user_id] = ProfileGeneration.objects.filter(
            user_id=user_id, status=Status.CURRENT
        ).count()
    return counts


def test_two_simultaneous_upgrades_apply_exactly_once_every_time():
    conversation("ana", ["I live in Berlin.", "I prefer metric units."])
    conversation("ben", ["I live in Paris."])
    profile_services.manual_profile_generation()

    for round_number in range(ROUNDS):
        conversation("ana", [f"I have {round_number + 2} kids."])
        profile_services.rerun_profile_generation()
        pending = UserProfile.objects.filter(status=Status.PENDING).count()
        events_before = AuditEvent.objects.filter(action="upgrade_profiles").count()

        results = at_once(lambda: profile_services.upgrade_profiles())

        applied = [r for r in results if r.changed]
        assert len(applied) == 1, results
        assert applied[0].promoted == pending
        assert UserProfile.objects.filter(status=Status.PENDING).count() == 0
        assert UserProfile.objects.filter(status=Status.CURRENT).count() == pending
        assert set(live_generations_per_user().values()) == {1}
        events = AuditEvent.objects.filter(action="upgrade_profiles").count()
        assert events == events_before + 1


def test_two_simultaneous_downgrades_apply_exactly_once_every_time():
    conversation("ana", ["I live in Berlin."])
    profile_services.manual_profile_generation()

    for round_number in range(ROUNDS):
        conversation("ana", [f"I have {round_number + 2} kids."])
        profile_services.rerun_profile_generation(user_id="ana")
        profile_services.upgrade_profiles(user_id="ana")
        current = set(
            UserProfile.objects.filter(status=Status.CURRENT).values_list(
                "pk", flat=True
            )
        )

        results = at_once(lambda: profile_services.downgrade_profiles(user_id="ana"))

        assert sum(1 for r in results if r.changed) == 1
        archived = set(
            UserProfile.objects.filter(status=Status.ARCHIVED).values_list(
                "pk", flat=True
            )
        )
        assert current <= archived
        assert live_generations_per_user() == {"ana": 1}
        # Put the newer set back for the next round.
        profile_services.upgrade_profiles(user_id="ana")
        profile_services.downgrade_profiles(user_id="ana")
        profile_services.rerun_profile_generation(user_id="ana")
        profile_services.upgrade_profiles(user_id="ana")


def test_an_upgrade_and_a_downgrade_at_once_leave_one_live_set():
    conversation("ana", ["I live in Berlin."])
    profile_services.manual_profile_generation()
    conversation("ana", ["I live in Munich now."])
    profile_services.rerun_profile_generation()

    at_once_results = at_once(
        lambda: profile_services.upgrade_profiles(user_id="ana"), count=1
    )
    assert at_once_results[0].changed
    profile_services.rerun_profile_generation()

    barrier_actions = [
        lambda: profile_services.upgrade_profiles(user_id="ana"),
        lambda: profile_services.downgrade_profiles(user_id="ana"),
    ]
    index = iter(range(2))
    at_once(lambda: barrier_actions[next(index)]())

    assert live_generations_per_user() == {"ana": 1}


def test_two_simultaneous_playbook_upgrades_apply_exactly_once():
    for user_id in ("ana", "ben", "cat"):
        conversation(user_id, REFUND_CORRECTION, agent_version="v2")
    playbook_services.rerun_playbook_generation(agent_version="v2")

    results = at_once(
        lambda: playbook_services.upgrade_user_playbooks(agent_version="v2")
    )

    assert sorted(r.promoted for r in results) == [0, 3]
    event_count = AuditEvent.objects.filter(action="upgrade_user_playbooks").count()
    assert event_count == 1
