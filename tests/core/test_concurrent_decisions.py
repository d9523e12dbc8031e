"""Two reviewers clicking at the same moment, on two real database connections.

Each scenario runs ROUNDS times in a row. After every round: one live
generation per scope, nothing lost, the counts in the answers add up to what
changed in the database, and exactly one audit event per applied change.
"""

import pytest

from playbooks import services as playbook_services
from playbooks.models import PlaybookGeneration, UserPlaybook
from profiles import services as profile_services
from profiles.models import ProfileGeneration, UserProfile
from reflexio_admin import review
from reflexio_admin.models import AuditEvent, DeletedItem
from reflexio_admin.review import profile_scope
from reflexio_admin.status import Status
from tests.concurrency import at_once
from tests.factories import REFUND_CORRECTION, conversation, user_with_role
from tests.review.builders import by_text, current_facts, pending_facts

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

ROUNDS = 20


def results_of(outcomes):
    assert all(kind == "ok" for kind, _ in outcomes), outcomes
    return [result for _, result in outcomes]


def live_generations_per_user() -> dict[str, int]:
    counts: dict[str, int] = {}
    for user_id in UserProfile.objects.values_list("user_id", flat=True).distinct():
        counts[user_id] = ProfileGeneration.objects.filter(
            user_id=user_id, status=Status.CURRENT
        ).count()
    return counts


def profile_ids(status: str, **scope) -> set[int]:
    return set(
        UserProfile.objects.filter(status=status, **scope).values_list("pk", flat=True)
    )


def event_count(action: str) -> int:
    return AuditEvent.objects.filter(action=action).count()


def latest_event(action: str) -> AuditEvent:
    return AuditEvent.objects.filter(action=action).order_by("-id").first()


def test_two_simultaneous_upgrades_apply_exactly_once_every_time():
    conversation("ana", ["I live in Berlin.", "I prefer metric units."])
    conversation("ben", ["I live in Paris."])
    profile_services.manual_profile_generation()

    for round_number in range(ROUNDS):
        conversation("ana", [f"I have {round_number + 2} kids."])
        profile_services.rerun_profile_generation()
        pending, current = profile_ids(Status.PENDING), profile_ids(Status.CURRENT)
        archived_before = profile_ids(Status.ARCHIVED)
        events_before = event_count("upgrade_profiles")

        results = results_of(
            at_once(
                profile_services.upgrade_profiles, profile_services.upgrade_profiles
            )
        )

        applied = [r for r in results if r.changed]
        assert len(applied) == 1, results
        (result,) = applied
        assert (result.promoted, result.archived) == (len(pending), len(current))
        assert result.deleted == len(archived_before - profile_ids(Status.ARCHIVED))
        assert [r for r in results if not r.changed][0].promoted == 0
        assert profile_ids(Status.CURRENT) == pending
        assert profile_ids(Status.ARCHIVED) == current
        assert not profile_ids(Status.PENDING)
        assert set(live_generations_per_user().values()) == {1}
        assert event_count("upgrade_profiles") == events_before + 1
        assert latest_event("upgrade_profiles").counts == {
            "promoted": result.promoted,
            "archived": result.archived,
            "deleted": result.deleted,
            "users": result.users,
        }


def test_two_simultaneous_downgrades_apply_exactly_once_every_time():
    conversation("ana", ["I live in Berlin."])
    profile_services.manual_profile_generation()

    for round_number in range(ROUNDS):
        conversation("ana", [f"I have {round_number + 2} kids."])
        profile_services.rerun_profile_generation(user_id="ana")
        profile_services.upgrade_profiles(user_id="ana")
        current = profile_ids(Status.CURRENT, user_id="ana")
        archived = profile_ids(Status.ARCHIVED, user_id="ana")
        events_before = event_count("downgrade_profiles")

        results = results_of(
            at_once(
                lambda: profile_services.downgrade_profiles(user_id="ana"),
                lambda: profile_services.downgrade_profiles(user_id="ana"),
            )
        )

        applied = [r for r in results if r.changed]
        assert len(applied) == 1, results
        (result,) = applied
        assert (result.restored, result.demoted) == (len(archived), len(current))
        assert profile_ids(Status.CURRENT, user_id="ana") == archived
        assert profile_ids(Status.ARCHIVED, user_id="ana") == current
        assert live_generations_per_user() == {"ana": 1}
        assert event_count("downgrade_profiles") == events_before + 1
        assert latest_event("downgrade_profiles").counts == {
            "restored": result.restored,
            "demoted": result.demoted,
            "users": result.users,
        }
        # Put the newer set back for the next round.
        profile_services.downgrade_profiles(user_id="ana")


def test_an_upgrade_and_a_downgrade_at_once_leave_one_live_set_every_time():
    conversation("ana", ["I live in Berlin."])
    profile_services.manual_profile_generation()

    for round_number in range(ROUNDS):
        conversation("ana", [f"I moved to City{round_number}."])
        profile_services.rerun_profile_generation(user_id="ana")
        known = set(UserProfile.objects.values_list("pk", flat=True))
        events_before = event_count("upgrade_profiles") + event_count(
            "downgrade_profiles"
        )

        upgrade, downgrade = results_of(
            at_once(
                lambda: profile_services.upgrade_profiles(user_id="ana"),
                lambda: profile_services.downgrade_profiles(user_id="ana"),
            )
        )

        assert live_generations_per_user() == {"ana": 1}
        assert not profile_ids(Status.PENDING)
        # Only an upgrade deletes (the ARCHIVED set it replaces), and what it
        # deletes stays readable in the audit trail.
        gone = known - set(UserProfile.objects.values_list("pk", flat=True))
        assert len(gone) == upgrade.deleted
        snapshots = DeletedItem.objects.filter(
            audit_event__action="upgrade_profiles", item_id__in=map(str, gone)
        )
        assert snapshots.count() == len(gone)
        changed = sum(1 for result in (upgrade, downgrade) if result.changed)
        events_after = event_count("upgrade_profiles") + event_count(
            "downgrade_profiles"
        )
        assert events_after == events_before + changed


def test_two_simultaneous_playbook_upgrades_apply_exactly_once_every_time():
    for user_id in ("ana", "ben", "cat"):
        conversation(user_id, REFUND_CORRECTION, agent_version="v2")

    for _ in range(ROUNDS):
        playbook_services.rerun_playbook_generation(agent_version="v2")
        pending = set(
            UserPlaybook.objects.filter(status=Status.PENDING).values_list(
                "pk", flat=True
            )
        )
        events_before = event_count("upgrade_user_playbooks")

        results = results_of(
            at_once(
                lambda: playbook_services.upgrade_user_playbooks(agent_version="v2"),
                lambda: playbook_services.upgrade_user_playbooks(agent_version="v2"),
            )
        )

        assert sorted(r.promoted for r in results) == [0, len(pending)]
        assert len(pending) == 3
        live = UserPlaybook.objects.filter(status=Status.CURRENT)
        assert set(live.values_list("pk", flat=True)) == pending
        for user_id in ("ana", "ben", "cat"):
            generations = PlaybookGeneration.objects.filter(
                user_id=user_id, status=Status.CURRENT
            )
            assert generations.count() == 1
        assert event_count("upgrade_user_playbooks") == events_before + 1


# Item decisions (the review page's accept/reject), two reviewers at once.


def _setup_review(user_id):
    current_facts(user_id, ["Works night shifts", "Lives in Berlin", "Has a dog"])
    pending_facts(
        user_id, ["Works the night shift", "Lives in Munich", "Prefers metric units"]
    )
    return by_text(user_id, Status.PENDING)


def _decide(user_id, decisions, actor):
    return lambda: review.apply_item_decisions(
        scope=profile_scope(user_id), decisions=decisions, actor=actor
    )


def _where_is_everything(user_id, before):
    """Each row that existed before: its status now, or "rejected" if deleted
    with a snapshot in the audit trail. Anything else is lost."""
    now = dict(UserProfile.objects.filter(pk__in=before).values_list("pk", "status"))
    snapshots = set(
        DeletedItem.objects.filter(
            user_id=user_id, audit_event__action="review_profiles"
        ).values_list("item_id", flat=True)
    )
    return {
        pk: now.get(pk) or ("rejected" if str(pk) in snapshots else "lost")
        for pk in before
    }


@pytest.mark.parametrize("overlap", [False, True], ids=["disjoint", "overlapping"])
def test_two_reviewers_deciding_on_one_user_at_once_keep_every_invariant(overlap):
    rita, ravi = user_with_role("rita", "reviewer"), user_with_role("ravi", "reviewer")

    for round_number in range(ROUNDS):
        user_id = f"ana{round_number}"
        pending = _setup_review(user_id)
        rows = UserProfile.objects.filter(user_id=user_id)
        before = set(rows.values_list("pk", flat=True))
        proposed = {item.pk for item in pending.values()}
        munich = pending["Lives in Munich"].pk
        first = {munich: "accept", pending["Prefers metric units"].pk: "reject"}
        second = {pending["Works the night shift"].pk: "accept"}
        if overlap:
            second[munich] = "reject"

        outcomes = at_once(
            _decide(user_id, first, rita), _decide(user_id, second, ravi)
        )

        applied = [result for kind, result in outcomes if kind == "ok"]
        refused = [exc for kind, exc in outcomes if kind == "refused"]
        assert applied, outcomes
        if overlap:
            assert len(applied) == 1 and len(refused) == 1
        assert all("Nothing was changed" in str(exc) for exc in refused)
        events = AuditEvent.objects.filter(
            action="review_profiles", scope__user_id=user_id
        )
        assert events.count() == len(applied)
        for result in applied:
            event = events.get(pk=result.event_id)
            assert event.counts == {
                "accepted": result.accepted,
                "rejected": result.rejected,
                "archived": result.archived,
                "kept": result.kept,
            }
        assert (
            ProfileGeneration.objects.filter(
                user_id=user_id, status=Status.CURRENT
            ).count()
            == 1
        )
        where = _where_is_everything(user_id, before)
        assert "lost" not in where.values(), where
        accepted = sum(result.accepted for result in applied)
        rejected = sum(result.rejected for result in applied)
        archived = sum(result.archived for result in applied)
        assert list(where.values()).count("rejected") == rejected
        assert sum(1 for pk in proposed if where[pk] == Status.CURRENT) == accepted
        assert list(where.values()).count(Status.ARCHIVED) == archived
        for item in UserProfile.objects.filter(user_id=user_id).select_related(
            "generation"
        ):
            assert item.generation.status == item.status
