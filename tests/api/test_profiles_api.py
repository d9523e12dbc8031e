from datetime import timedelta

import pytest
from django.utils import timezone

from profiles import services
from profiles.models import UserProfile
from reflexio_admin.models import AuditEvent, GenerationSettings, Operation
from reflexio_admin.status import Status
from tests.factories import conversation

pytestmark = pytest.mark.django_db


def profile(user_id="ana", content="Lives in Berlin", status=Status.CURRENT, **kw):
    return services.profile_add(user_id=user_id, content=content, status=status, **kw)


def contents(response) -> set[str]:
    return {p["content"] for p in response.json()["user_profiles"]}


def test_get_profiles_returns_current_profiles_by_default_in_reflexio_shape(api):
    live = profile(content="Lives in Berlin", source="chat", request_id="req-1")
    profile(content="Lives in Munich", status=Status.PENDING)

    response = api.post("get_profiles", {"user_id": "ana"})

    assert response.status_code == 200
    [view] = response.json()["user_profiles"]
    assert view["profile_id"] == live.profile_id
    assert view["status"] is None
    assert view["generated_from_request_id"] == "req-1"
    assert view["source"] == "chat"
    assert view["extractor_names"] == ["default_profile_extractor"]
    assert view["last_modified_timestamp"] == int(live.modified_at.timestamp())
    assert view["profile_time_to_live"] == "infinity"
    assert view["expiration_timestamp"] == 4102444800


def test_get_profiles_filters_by_status_where_null_means_current(api):
    profile(content="Lives in Berlin")
    profile(content="Lives in Munich", status=Status.PENDING)
    profile(content="Lives in Rome", status=Status.ARCHIVED)

    pending = api.post("get_profiles", {"user_id": "ana", "status_filter": ["pending"]})
    both = api.post(
        "get_profiles", {"user_id": "ana", "status_filter": [None, "archived"]}
    )

    assert contents(pending) == {"Lives in Munich"}
    assert [p["status"] for p in pending.json()["user_profiles"]] == ["pending"]
    assert contents(both) == {"Lives in Berlin", "Lives in Rome"}


def test_get_profiles_filters_by_query_source_time_and_top_k(api):
    profile(content="Lives in Berlin", source="chat")
    profile(content="Works in Berlin", source="email")
    profile(content="Has a dog", source="chat")
    later = int((timezone.now() + timedelta(hours=1)).timestamp())

    by_query = api.post("get_profiles", {"user_id": "ana", "query": "berlin"})
    by_source = api.post(
        "get_profiles", {"user_id": "ana", "query": "berlin", "source": "chat"}
    )
    top = api.post("get_profiles", {"user_id": "ana", "top_k": 2})
    future = api.post("get_profiles", {"user_id": "ana", "start_time": later})

    assert contents(by_query) == {"Lives in Berlin", "Works in Berlin"}
    assert contents(by_source) == {"Lives in Berlin"}
    assert len(top.json()["user_profiles"]) == 2
    assert future.json()["user_profiles"] == []


def test_get_profiles_rejects_an_unknown_status_and_a_bad_time_range(api):
    unknown = api.post("get_profiles", {"user_id": "ana", "status_filter": ["gone"]})
    backwards = api.post(
        "get_profiles", {"user_id": "ana", "start_time": 200, "end_time": 100}
    )

    assert unknown.status_code == 400
    assert unknown.json()["msg"].startswith("status_filter[0]:")
    assert backwards.status_code == 400
    assert "end_time must be after start_time" in backwards.json()["msg"]


def test_get_all_profiles_lists_every_user_and_status_unless_filtered(api):
    profile(user_id="ana", content="Lives in Berlin")
    profile(user_id="bob", content="Has a cat", status=Status.PENDING)

    everything = api.get("get_all_profiles", limit=10)
    pending = api.get("get_all_profiles", status_filter="pending")

    assert contents(everything) == {"Lives in Berlin", "Has a cat"}
    assert contents(pending) == {"Has a cat"}


def test_get_all_profiles_rejects_a_limit_that_is_not_a_number(api):
    response = api.get("get_all_profiles", limit="many")

    assert response.status_code == 400
    assert response.json()["msg"].startswith("limit:")


def test_add_user_profile_adds_current_profiles_and_honours_the_profile_id(api):
    response = api.post(
        "add_user_profile",
        {
            "user_profiles": [
                {"user_id": "ana", "content": "Likes tea", "profile_id": "p-tea"},
                {"user_id": "ana", "content": "Likes jazz", "status": "pending"},
            ]
        },
    )

    assert response.json()["added_count"] == 2
    tea = UserProfile.objects.get(profile_id="p-tea")
    assert tea.status == Status.CURRENT
    assert UserProfile.objects.get(content="Likes jazz").status == Status.PENDING
    assert AuditEvent.objects.filter(action="profile_added").count() == 2


def test_add_user_profile_adds_nothing_when_one_profile_is_refused(api):
    profile(content="Likes tea", profile_id="p-tea")

    response = api.post(
        "add_user_profile",
        {
            "user_profiles": [
                {"user_id": "ana", "content": "Likes jazz"},
                {"user_id": "ana", "content": "Likes coffee", "profile_id": "p-tea"},
            ]
        },
    )

    assert response.status_code == 400
    assert "p-tea" in response.json()["msg"]
    assert not UserProfile.objects.filter(content="Likes jazz").exists()


def test_update_user_profile_changes_the_text_and_keeps_an_audit_trail(api):
    fact = profile(content="Lives in Berlin")

    response = api.post(
        "update_user_profile",
        {"user_id": "ana", "profile_id": fact.profile_id, "content": "Lives in Bonn"},
    )

    assert response.json()["success"] is True
    fact.refresh_from_db()
    assert fact.content == "Lives in Bonn"
    event = AuditEvent.objects.get(action="profile_updated")
    assert event.before["content"] == "Lives in Berlin"
    assert event.actor.username == "rita"


def test_update_user_profile_of_another_user_is_a_404(api):
    fact = profile(user_id="ana")

    response = api.put(
        "update_user_profile",
        {"user_id": "bob", "profile_id": fact.profile_id, "content": "x"},
    )

    assert response.status_code == 404
    assert fact.profile_id in response.json()["msg"]


def test_delete_profile_by_id_or_by_search_query(api):
    berlin = profile(content="Lives in Berlin")
    profile(content="Works in Berlin")
    profile(content="Visited Berlin once", status=Status.PENDING)
    profile(content="Has a dog")

    by_id = api.delete(
        "delete_profile", {"user_id": "ana", "profile_id": berlin.profile_id}
    )
    by_query = api.delete(
        "delete_profile", {"user_id": "ana", "search_query": "berlin"}
    )

    assert by_id.json() == {"success": True, "message": "Deleted 1 profile(s)."}
    assert by_query.json()["message"] == "Deleted 1 profile(s)."
    assert set(UserProfile.objects.values_list("content", flat=True)) == {
        "Visited Berlin once",
        "Has a dog",
    }


def test_delete_profile_needs_an_id_or_a_query(api):
    response = api.delete("delete_profile", {"user_id": "ana"})

    assert response.status_code == 400
    assert "profile_id" in response.json()["msg"]


def test_delete_profiles_by_ids_counts_what_it_deleted(api):
    one, two = profile(content="A"), profile(content="B")

    response = api.delete(
        "delete_profiles_by_ids", {"profile_ids": [one.profile_id, two.profile_id, "x"]}
    )

    assert response.json()["deleted_count"] == 2
    assert not UserProfile.objects.exists()


def test_a_rerun_returns_the_operation_id_and_writes_pending_profiles(api):
    conversation("ana", ["I work night shifts."])

    response = api.post("rerun_profile_generation", {"user_id": "ana", "source": ""})

    body = response.json()
    assert response.status_code == 200
    assert body["success"] is True
    operation = Operation.objects.get(pk=int(body["operation_id"]))
    assert operation.requested_by.username == "rita"
    assert operation.params == {"user_id": "ana"}
    assert contents(
        api.post("get_profiles", {"user_id": "ana", "status_filter": ["pending"]})
    ) == {"Works night shifts"}


def test_a_rerun_without_interactions_is_a_400_that_says_so(api):
    response = api.post("rerun_profile_generation", {"user_id": "nobody"})

    assert response.status_code == 400
    assert response.json()["success"] is False
    assert "No interactions found for user_id=nobody" in response.json()["msg"]


def test_a_rerun_with_an_unknown_extractor_names_the_available_ones(api):
    conversation("ana", ["I work night shifts."])

    response = api.post(
        "rerun_profile_generation", {"user_id": "ana", "extractor_names": ["nope"]}
    )

    assert response.status_code == 400
    assert "nope" in response.json()["msg"]
    assert "default_profile_extractor" in response.json()["msg"]


def test_manual_generation_writes_current_profiles(api):
    conversation("ana", ["I live in Berlin."])

    response = api.post("manual_profile_generation", {"user_id": "ana"})

    assert response.json()["success"] is True
    assert contents(api.post("get_profiles", {"user_id": "ana"})) == {"Lives in Berlin"}


def test_manual_generation_without_batch_size_is_refused_before_anything_runs(api):
    conversation("ana", ["I live in Berlin."])
    GenerationSettings.objects.filter(pk=1).update(batch_size=None)

    response = api.post("manual_profile_generation", {"user_id": "ana"})

    assert response.status_code == 400
    assert "batch_size is not configured" in response.json()["msg"]
    assert not Operation.objects.exists()


def test_upgrade_promotes_pending_profiles_and_reports_the_counts(api):
    profile(content="Lives in Berlin")
    profile(content="Lives in Munich", status=Status.PENDING)

    response = api.post("upgrade_all_profiles", {"user_id": "ana"})

    assert response.json() == {
        "success": True,
        "profiles_promoted": 1,
        "profiles_archived": 1,
        "profiles_deleted": 0,
        "message": response.json()["message"],
    }
    assert contents(api.post("get_profiles", {"user_id": "ana"})) == {"Lives in Munich"}


def test_a_second_upgrade_changes_nothing_and_says_so(api):
    profile(content="Lives in Munich", status=Status.PENDING)
    api.post("upgrade_all_profiles", {"user_id": "ana"})

    again = api.post("upgrade_all_profiles", {"user_id": "ana"})

    assert again.status_code == 200
    body = again.json()
    assert body["success"] is True
    assert (body["profiles_promoted"], body["profiles_archived"]) == (0, 0)
    assert body["message"] == "Nothing to upgrade: no pending profiles for user ana."


def test_an_upgrade_of_one_user_leaves_other_users_pending(api):
    profile(user_id="ana", content="Lives in Munich", status=Status.PENDING)
    profile(user_id="bob", content="Has a cat", status=Status.PENDING)

    api.post("upgrade_all_profiles", {"user_id": "ana"})

    assert UserProfile.objects.get(user_id="bob").status == Status.PENDING


def test_upgrade_by_profile_ids_is_refused_rather_than_widened(api):
    response = api.post("upgrade_all_profiles", {"profile_ids": ["p1"]})

    assert response.status_code == 400
    assert response.json()["msg"].startswith("profile_ids:")


def test_downgrade_restores_the_archived_profiles(api):
    profile(content="Lives in Berlin")
    profile(content="Lives in Munich", status=Status.PENDING)
    api.post("upgrade_all_profiles", {"user_id": "ana"})

    response = api.post("downgrade_all_profiles", {"user_id": "ana"})

    assert response.json()["profiles_restored"] == 1
    assert response.json()["profiles_demoted"] == 1
    assert contents(api.post("get_profiles", {"user_id": "ana"})) == {"Lives in Berlin"}


def test_get_interactions_returns_the_newest_turns_first(api):
    request = conversation("ana", ["I live in Berlin.", ("Assistant", "Noted.")])

    response = api.post("get_interactions", {"user_id": "ana", "top_k": 1})

    [turn] = response.json()["interactions"]
    assert (turn["role"], turn["content"]) == ("Assistant", "Noted.")
    assert turn["request_id"] == request.request_id
    assert isinstance(turn["created_at"], int)


def test_get_requests_groups_requests_by_session(api):
    conversation("ana", ["I live in Berlin."], session_id="s1")
    conversation("ana", ["I work nights."], session_id="s2")
    conversation("bob", ["Hi"], session_id="s3")

    response = api.post("get_requests", {"user_id": "ana", "top_k": 1})

    body = response.json()
    assert body["has_more"] is True
    [session] = body["sessions"]
    [entry] = session["requests"]
    assert entry["request"]["user_id"] == "ana"
    assert [i["content"] for i in entry["interactions"]] in (
        ["I live in Berlin."],
        ["I work nights."],
    )
