from datetime import timedelta

import pytest
from django.utils import timezone

from profiles import services
from profiles.models import ProfileExtractor, ProfileGeneration, UserProfile
from reflexio_admin.models import (
    AuditEvent,
    DeletedItem,
    GenerationSettings,
    Operation,
    OperationStatus,
)
from reflexio_admin.operations import OperationConflict, OperationError
from reflexio_admin.planning import extractions_due
from reflexio_admin.status import Status
from tests.factories import conversation

pytestmark = pytest.mark.django_db


def contents(status: str, user_id: str = "ana") -> set[str]:
    return set(
        UserProfile.objects.filter(user_id=user_id, status=status).values_list(
            "content", flat=True
        )
    )


def test_a_rerun_writes_pending_profiles_and_leaves_current_alone():
    conversation("ana", ["I work night shifts.", "I live in Berlin."])
    services.profile_add(user_id="ana", content="Has a dog")

    operation = services.rerun_profile_generation(user_id="ana")

    operation.refresh_from_db()
    assert operation.status == OperationStatus.COMPLETED
    assert contents(Status.PENDING) == {"Works night shifts", "Lives in Berlin"}
    assert contents(Status.CURRENT) == {"Has a dog"}
    assert operation.processed_users == 1
    assert operation.items_produced == 2
    assert operation.prompt_tokens > 0


def test_a_second_rerun_replaces_the_pending_set_instead_of_adding_to_it():
    conversation("ana", ["I work night shifts."])
    services.rerun_profile_generation(user_id="ana")
    conversation("ana", ["I live in Munich."])

    services.rerun_profile_generation(user_id="ana")

    assert contents(Status.PENDING) == {"Works night shifts", "Lives in Munich"}
    assert ProfileGeneration.objects.filter(status=Status.PENDING).count() == 1


def test_a_rerun_reads_every_window_of_a_long_history():
    settings_row = GenerationSettings.load()
    settings_row.batch_size = 2
    settings_row.save()
    conversation("ana", ["I live in Berlin.", "Hello again."])
    conversation("ana", ["What time is it?", "Okay."])
    conversation("ana", ["Still there?", "I prefer metric units."])

    operation = services.rerun_profile_generation(user_id="ana")

    operation.refresh_from_db()
    assert contents(Status.PENDING) == {"Lives in Berlin", "Prefers metric units"}
    # Three windows of two turns plus one consolidation, plus the embeddings.
    assert operation.llm_calls >= 4


def test_a_later_fact_supersedes_an_earlier_one_across_windows():
    settings_row = GenerationSettings.load()
    settings_row.batch_size = 1
    settings_row.save()
    conversation("ana", ["I live in Berlin."])
    conversation("ana", ["I live in Munich now."])

    services.rerun_profile_generation(user_id="ana")

    assert contents(Status.PENDING) == {"Lives in Munich"}


def test_a_rerun_for_one_user_leaves_other_users_untouched():
    conversation("ana", ["I live in Berlin."])
    conversation("ben", ["I live in Paris."])

    services.rerun_profile_generation(user_id="ana")

    assert contents(Status.PENDING, "ben") == set()
    assert contents(Status.PENDING, "ana") == {"Lives in Berlin"}


def test_a_rerun_honours_the_time_window_and_the_source():
    old = timezone.now() - timedelta(days=30)
    conversation("ana", ["I live in Berlin."], at=old)
    conversation("ana", ["I prefer metric units."], source="email")
    conversation("ana", ["I work night shifts."])

    services.rerun_profile_generation(
        user_id="ana", start_time=timezone.now() - timedelta(days=7), source="chat"
    )

    assert contents(Status.PENDING) == {"Works night shifts"}


def test_a_rerun_limited_to_one_extractor_runs_only_that_extractor():
    ProfileExtractor.objects.create(name="preferences", definition_prompt="Tastes.")
    conversation("ana", ["I prefer metric units."])

    services.rerun_profile_generation(user_id="ana", extractor_names=["preferences"])

    extractors = set(UserProfile.objects.values_list("extractor_name", flat=True))
    assert extractors == {"preferences"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"extractor_names": ["nope"]},
            "Unknown or disabled profile extractor(s): nope",
        ),
        ({"user_id": "nobody"}, "No interactions found for user_id=nobody"),
        (
            {
                "start_time": timezone.now(),
                "end_time": timezone.now() - timedelta(days=1),
            },
            "end_time must be after start_time",
        ),
    ],
)
def test_a_rerun_with_bad_parameters_is_refused_with_a_clear_message(kwargs, message):
    conversation("ana", ["I live in Berlin."])

    with pytest.raises(
        OperationError, match=message.replace("(", r"\(").replace(")", r"\)")
    ):
        services.rerun_profile_generation(**kwargs)

    assert not Operation.objects.exists()


def test_manual_generation_needs_a_batch_size():
    conversation("ana", ["I live in Berlin."])
    GenerationSettings.objects.filter(pk=1).update(batch_size=None)

    with pytest.raises(OperationError, match="batch_size is not configured"):
        services.manual_profile_generation(user_id="ana")


def test_manual_generation_needs_an_extractor_that_allows_it():
    conversation("ana", ["I live in Berlin."])
    ProfileExtractor.objects.update(allow_manual_trigger=False)

    with pytest.raises(OperationError, match="allow_manual_trigger"):
        services.manual_profile_generation(user_id="ana")


def test_manual_generation_writes_current_from_the_latest_window_only():
    GenerationSettings.objects.filter(pk=1).update(batch_size=2)
    old = timezone.now() - timedelta(days=3)
    conversation("ana", ["I live in Berlin.", "Thanks."], at=old)
    conversation("ana", ["I prefer metric units.", "Bye."])

    services.manual_profile_generation(user_id="ana")

    assert contents(Status.CURRENT) == {"Prefers metric units"}
    assert contents(Status.PENDING) == set()


def test_manual_generation_archives_a_fact_it_supersedes():
    conversation("ana", ["I live in Berlin."])
    services.manual_profile_generation(user_id="ana")
    conversation("ana", ["I live in Munich now."])

    services.manual_profile_generation(user_id="ana")

    assert contents(Status.CURRENT) == {"Lives in Munich"}
    assert contents(Status.ARCHIVED) == {"Lives in Berlin"}


def test_manual_generation_skips_extractors_that_do_not_allow_it():
    ProfileExtractor.objects.create(
        name="private", definition_prompt="x", allow_manual_trigger=False
    )
    conversation("ana", ["I live in Berlin."])

    services.manual_profile_generation(user_id="ana")

    extractors = set(UserProfile.objects.values_list("extractor_name", flat=True))
    assert extractors == {"default_profile_extractor"}


def test_upgrade_promotes_pending_archives_current_and_deletes_old_archived():
    conversation("ana", ["I live in Berlin."])
    services.rerun_profile_generation(user_id="ana")
    services.upgrade_profiles(user_id="ana")
    conversation("ana", ["I live in Munich now."])
    services.rerun_profile_generation(user_id="ana")
    services.upgrade_profiles(user_id="ana")
    conversation("ana", ["I prefer metric units."])
    services.rerun_profile_generation(user_id="ana")

    result = services.upgrade_profiles(user_id="ana")

    assert (result.promoted, result.archived, result.deleted) == (2, 1, 1)
    assert contents(Status.CURRENT) == {"Lives in Munich", "Prefers metric units"}
    assert contents(Status.ARCHIVED) == {"Lives in Munich"}
    snapshot = DeletedItem.objects.get()
    assert snapshot.data["content"] == "Lives in Berlin"
    event = AuditEvent.objects.filter(action="upgrade_profiles").first()
    assert event.counts == {"promoted": 2, "archived": 1, "deleted": 1, "users": 1}


def test_upgrade_for_one_user_never_changes_another_user():
    conversation("ana", ["I live in Berlin."])
    conversation("ben", ["I live in Paris."])
    services.rerun_profile_generation()

    services.upgrade_profiles(user_id="ana")

    assert contents(Status.CURRENT, "ana") == {"Lives in Berlin"}
    assert contents(Status.PENDING, "ben") == {"Lives in Paris"}


def _three_generations(user_id: str) -> None:
    """Archived, current and pending facts under one extractor, current only
    under another."""
    ProfileExtractor.objects.get_or_create(name="food")
    for status in (Status.ARCHIVED, Status.CURRENT, Status.PENDING):
        for n in range(2):
            services.profile_add(
                user_id=user_id, content=f"{status} {n}", status=status
            )
    services.profile_add(user_id=user_id, content="Likes tea", extractor_name="food")


def _by_status(user_id: str) -> dict[str, set[tuple[str, str]]]:
    rows = UserProfile.objects.filter(user_id=user_id)
    return {
        status: set(rows.filter(status=status).values_list("extractor_name", "content"))
        for status in Status.values
    }


def test_upgrading_one_user_and_upgrading_everyone_make_the_same_changes():
    _three_generations("ana")
    _three_generations("ben")

    one = services.upgrade_profiles(user_id="ana")
    everyone = services.upgrade_profiles()

    assert (one.promoted, one.archived, one.deleted, one.scopes) == (2, 2, 2, 1)
    assert (everyone.promoted, everyone.archived, everyone.deleted) == (2, 2, 2)
    assert _by_status("ana") == _by_status("ben")
    assert _by_status("ana") == {
        Status.CURRENT: {
            ("default_profile_extractor", "pending 0"),
            ("default_profile_extractor", "pending 1"),
            ("food", "Likes tea"),
        },
        Status.ARCHIVED: {
            ("default_profile_extractor", "current 0"),
            ("default_profile_extractor", "current 1"),
        },
        Status.PENDING: set(),
    }
    assert DeletedItem.objects.filter(user_id="ana").count() == 2


def test_a_second_upgrade_changes_nothing_and_says_so():
    conversation("ana", ["I live in Berlin."])
    services.rerun_profile_generation(user_id="ana")
    services.upgrade_profiles(user_id="ana")

    result = services.upgrade_profiles(user_id="ana")

    assert not result.changed
    assert contents(Status.CURRENT) == {"Lives in Berlin"}


def test_upgrade_of_everyone_leaves_users_without_pending_profiles_live():
    conversation("ana", ["I live in Berlin."])
    services.manual_profile_generation(user_id="ana")
    conversation("ben", ["I live in Paris."])
    services.rerun_profile_generation(user_id="ben")

    services.upgrade_profiles(only_affected_users=False)

    assert contents(Status.CURRENT, "ana") == {"Lives in Berlin"}
    assert contents(Status.CURRENT, "ben") == {"Lives in Paris"}


def test_downgrade_restores_archived_and_archives_current():
    conversation("ana", ["I live in Berlin."])
    services.rerun_profile_generation(user_id="ana")
    services.upgrade_profiles(user_id="ana")
    conversation("ana", ["I live in Munich now."])
    services.rerun_profile_generation(user_id="ana")
    services.upgrade_profiles(user_id="ana")

    result = services.downgrade_profiles(user_id="ana")

    assert (result.restored, result.demoted) == (1, 1)
    assert contents(Status.CURRENT) == {"Lives in Berlin"}
    assert contents(Status.ARCHIVED) == {"Lives in Munich"}


def test_downgrade_without_archived_profiles_changes_nothing():
    conversation("ana", ["I live in Berlin."])
    services.manual_profile_generation(user_id="ana")

    result = services.downgrade_profiles(user_id="ana")

    assert not result.changed
    assert contents(Status.CURRENT) == {"Lives in Berlin"}


def test_upgrade_preview_counts_what_the_upgrade_will_change():
    conversation("ana", ["I live in Berlin.", "I prefer metric units."])
    services.manual_profile_generation(user_id="ana")
    services.rerun_profile_generation(user_id="ana")

    preview = services.upgrade_preview(user_id="ana")
    result = services.upgrade_profiles(user_id="ana")

    assert (preview.users, preview.pending, preview.current) == (1, 2, 2)
    assert (result.promoted, result.archived) == (preview.pending, preview.current)


def test_a_second_run_of_the_same_kind_and_scope_is_refused_while_one_is_active():
    conversation("ana", ["I live in Berlin."])
    running = Operation.objects.create(
        kind="rerun_profile_generation",
        scope_key="profiles/*",
        status=OperationStatus.RUNNING,
    )

    with pytest.raises(OperationConflict, match=f"#{running.pk} is already running"):
        services.rerun_profile_generation(user_id="ana")


def test_support_edits_are_audited_with_before_and_after():
    profile = services.profile_add(user_id="ana", content="Lives in Berlin")

    services.profile_update(profile=profile, content="Lives in Munich")
    services.profile_delete(profile=profile)

    updated = AuditEvent.objects.get(action="profile_updated")
    deleted = AuditEvent.objects.get(action="profile_deleted")
    assert updated.before["content"] == "Lives in Berlin"
    assert updated.after["content"] == "Lives in Munich"
    assert deleted.before["content"] == "Lives in Munich"
    assert not UserProfile.objects.exists()


def _auto_extract(user_id: str, batch_interval: int):
    """What a publish does for profiles: ask whether extraction is due, start it."""
    check = services.auto_extraction_check(
        user_id=user_id, batch_interval=batch_interval
    )
    if not extractions_due([check])[0]:
        return None
    return services.start_auto_extraction(user_id=user_id)


def test_automatic_extraction_starts_once_enough_new_interactions_arrived():
    conversation("ana", ["I live in Berlin."] * 3)
    assert _auto_extract("ana", batch_interval=5) is None

    conversation("ana", ["I prefer metric units.", "Thanks."])
    operation = _auto_extract("ana", batch_interval=5)

    operation.refresh_from_db()
    assert operation.status == OperationStatus.COMPLETED
    assert contents(Status.CURRENT) == {"Lives in Berlin", "Prefers metric units"}
    assert _auto_extract("ana", batch_interval=5) is None
