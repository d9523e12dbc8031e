"""Per-user review summaries for list pages: counts and stale flag, few queries."""

import pytest

from profiles import services as profile_services
from reflexio_admin import review
from tests.factories import conversation
from tests.review.builders import (
    current_facts,
    current_rules,
    pending_facts,
    pending_rules,
)

pytestmark = pytest.mark.django_db


def test_it_counts_each_users_review_and_flags_stale_ones():
    conversation("ana", ["I work night shifts."])
    current_facts("ana", ["Works night shifts", "Has a dog"])
    pending_facts("ana", ["Works night shifts", "Prefers tea"])
    conversation("ben", ["I live in Paris."])
    pending_facts("ben", ["Lives in Paris"])
    conversation("ben", ["I moved."])
    current_facts("cat", ["Likes jazz"])

    summaries = review.summaries_for_users(["ana", "ben", "cat", "nobody"])

    assert set(summaries) == {"ana", "ben"}
    assert summaries["ana"].counts.as_dict() == {
        "unchanged": 1,
        "reworded": 0,
        "added": 1,
        "removed": 1,
    }
    assert summaries["ana"].stale is False
    assert summaries["ben"].counts.added == 1
    assert summaries["ben"].stale is True


def test_a_support_edit_flags_only_that_user():
    current_facts("ana", ["Has a dog"])
    pending_facts("ana", ["Has two dogs"])
    (fact,) = current_facts("ben", ["Has a cat"])
    pending_facts("ben", ["Has two cats"])

    profile_services.profile_update(profile=fact, content="Has a kitten")

    summaries = review.summaries_for_users(["ana", "ben"])
    assert (summaries["ana"].stale, summaries["ben"].stale) == (False, True)


def test_it_takes_three_queries_whatever_the_number_of_users(
    django_assert_num_queries,
):
    users = [f"user{i:02d}" for i in range(50)]
    for user_id in users[:10]:
        conversation(user_id, ["I work night shifts."])
        current_facts(user_id, ["Works night shifts", "Has a dog"])
        pending_facts(user_id, ["Works night shifts", "Has two dogs", "Likes tea"])

    with django_assert_num_queries(3):
        summaries = review.summaries_for_users(users)

    assert len(summaries) == 10
    assert {s.counts.total for s in summaries.values()} == {3}


def test_playbook_summaries_cover_one_agent_version():
    current_rules("ana", [("When the user is angry", "Apologise")])
    pending_rules("ana", [("When the user is angry", "Apologise once")])
    pending_rules("ana", [("When the user is angry", "Apologise")], agent_version="v3")

    summaries = review.summaries_for_users(
        ["ana"], kind=review.PLAYBOOKS, agent_version="v2"
    )

    assert summaries["ana"].counts.reworded == 1
    assert summaries["ana"].counts.added == 0


def test_no_users_no_queries(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert review.summaries_for_users([]) == {}
