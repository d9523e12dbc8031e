"""A review says when CURRENT or the conversation moved on since PENDING."""

import pytest

from profiles import services as profile_services
from profiles.models import UserProfile
from reflexio_admin import generations, review
from reflexio_admin.review import profile_scope
from reflexio_admin.status import Status
from tests.factories import conversation
from tests.review.builders import current_facts, pending_facts

pytestmark = pytest.mark.django_db


def test_a_fresh_rerun_is_not_stale():
    conversation("ana", ["I work night shifts.", "I live in Berlin."])
    current_facts("ana", ["Has a dog"])
    profile_services.rerun_profile_generation(user_id="ana")

    staleness = review.is_stale(profile_scope("ana"))

    assert not staleness
    assert staleness.reasons == ()


def test_a_support_edit_of_current_makes_it_stale():
    conversation("ana", ["I work night shifts."])
    (fact,) = current_facts("ana", ["Has a dog"])
    profile_services.rerun_profile_generation(user_id="ana")

    profile_services.profile_update(profile=fact, content="Has two dogs")

    staleness = review.is_stale(profile_scope("ana"))
    assert staleness.stale
    assert staleness.current_changed == (("ana", "default_profile_extractor"),)
    assert "CURRENT changed" in staleness.reasons[0]


def test_a_support_delete_of_current_makes_it_stale():
    conversation("ana", ["I work night shifts."])
    (fact,) = current_facts("ana", ["Has a dog"])
    profile_services.rerun_profile_generation(user_id="ana")

    profile_services.profile_delete(profile=fact)

    assert review.is_stale(profile_scope("ana")).current_changed


def test_a_manual_run_that_writes_current_makes_it_stale():
    conversation("ana", ["I work night shifts."])
    profile_services.rerun_profile_generation(user_id="ana")

    profile_services.manual_profile_generation(user_id="ana")

    staleness = review.is_stale(profile_scope("ana"))
    assert staleness.current_changed
    assert not staleness.missed_interactions


def test_new_interactions_make_it_stale_and_are_counted():
    conversation("ana", ["I work night shifts."])
    profile_services.rerun_profile_generation(user_id="ana")

    conversation("ana", ["I live in Munich.", "I prefer tea."])

    staleness = review.is_stale(profile_scope("ana"))
    assert staleness.stale
    assert not staleness.current_changed
    assert staleness.new_interactions == 2
    assert "2 new interaction(s)" in staleness.reasons[-1]


def test_another_users_interactions_do_not_make_it_stale():
    conversation("ana", ["I work night shifts."])
    profile_services.rerun_profile_generation(user_id="ana")

    conversation("ben", ["I live in Paris."])

    assert not review.is_stale(profile_scope("ana"))


def test_a_downgrade_of_one_extractor_makes_only_that_scope_stale():
    conversation("ana", ["I work night shifts."])
    current_facts("ana", ["Has a dog"], extractor="other")
    pending_facts("ana", ["Has a cat"], extractor="other")
    profile_services.upgrade_profiles(user_id="ana")
    profile_services.rerun_profile_generation(user_id="ana")
    pending_facts("ana", ["Has two cats"], extractor="other")
    assert not review.is_stale(profile_scope("ana"))

    profile_services.downgrade_profiles(user_id="ana", extractor_name="other")

    staleness = review.is_stale(profile_scope("ana"))
    assert staleness.current_changed == (("ana", "other"),)
    assert not review.is_stale(profile_scope("ana", "default_profile_extractor"))


def test_several_pending_generations_are_stale_if_any_is():
    current_facts("ana", ["Has a dog"], extractor="other")
    pending_facts("ana", ["Has a cat"], extractor="other")
    pending_facts("ana", ["Works night shifts"])

    UserProfile.objects.filter(user_id="ana", status=Status.CURRENT).first().save()

    assert review.is_stale(profile_scope("ana")).stale
    assert not review.is_stale(profile_scope("ana", "default_profile_extractor"))


def test_a_pending_set_added_by_hand_records_nothing_and_is_not_stale():
    conversation("ana", ["I work night shifts."])
    profile_services.profile_add(user_id="ana", content="x", status=Status.PENDING)
    conversation("ana", ["Later."])

    assert not review.is_stale(profile_scope("ana"))


def test_the_in_memory_digest_matches_the_one_stored_by_reruns():
    current_facts("ana", ["Has a dog", "Works night shifts"])
    rows = UserProfile.objects.filter(user_id="ana").values_list("pk", "modified_at")

    assert review.digest_rows(rows) == generations.digest_items(
        UserProfile.objects.filter(user_id="ana")
    )
