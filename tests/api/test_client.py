"""The project's own Python client against a live server (jobs run inline)."""

import pytest
from django.contrib.auth.models import User

from profiles.models import UserProfile
from reflexio_admin.client import ReflexioClient, ReflexioError
from reflexio_admin.models import ApiKey, GenerationSettings, Interaction
from reflexio_admin.status import Status
from tests.factories import REFUND_CORRECTION

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

NAME = "default_playbook_extractor"
REFUND_CORRECTION_TURNS = [
    {"role": turn[0], "content": turn[1]}
    if isinstance(turn, tuple)
    else {"role": "User", "content": turn}
    for turn in REFUND_CORRECTION
]


@pytest.fixture
def client(live_server):
    user = User.objects.create_superuser("root", password="x")
    _, raw = ApiKey.issue(user=user)
    return ReflexioClient(live_server.url, api_key=raw, timeout=30)


def turns(*texts):
    return [{"role": "User", "content": text} for text in texts]


def test_publish_then_rerun_wait_and_upgrade_as_in_the_seed_document(client):
    published = client.publish_interaction(
        "user_123", turns("I work night shifts.", "I live in Berlin."), source="chat"
    )
    assert published.success is True
    assert Interaction.objects.filter(user_id="user_123").count() == 2

    response = client.rerun_profile_generation(
        user_id="user_123", wait_for_response=True
    )
    assert response.success is True
    assert response.profiles_generated == 2
    assert (response.processed_users, response.failed_users) == (1, 0)
    pending = client.get_profiles("user_123", status_filter=["pending"])
    assert {p.content for p in pending.user_profiles} == {
        "Works night shifts",
        "Lives in Berlin",
    }
    assert {p.status for p in pending.user_profiles} == {"pending"}

    upgraded = client.upgrade_profiles(user_id="user_123")
    assert upgraded.profiles_promoted == 2
    current = client.get_profiles("user_123")
    assert {p.status for p in current.user_profiles} == {None}


def test_a_rerun_without_wait_returns_the_operation_id_at_once(client):
    client.publish_interaction("ana", turns("I live in Berlin."))

    response = client.rerun_profile_generation(user_id="ana")

    assert response.operation_id.isdigit()
    status = client.get_operation_status(operation_id=int(response.operation_id))
    assert status.operation_status.kind == "rerun_profile_generation"


def test_manual_generation_returns_none_and_raises_on_a_failed_precondition(client):
    client.publish_interaction("ana", turns("I live in Berlin."))

    assert client.manual_profile_generation(user_id="ana") is None
    assert UserProfile.objects.filter(status=Status.CURRENT).count() == 1

    GenerationSettings.objects.filter(pk=1).update(batch_size=None)
    with pytest.raises(ReflexioError) as error:
        client.manual_profile_generation(user_id="ana")
    assert error.value.status_code == 400
    assert "batch_size is not configured" in error.value.message


def test_profile_edits_through_the_client(client):
    added = client.add_user_profile([{"user_id": "ana", "content": "Likes tea"}])
    [profile_id] = added.profile_ids

    client.update_user_profile("ana", profile_id, content="Likes green tea")
    assert [p.content for p in client.get_profiles("ana").user_profiles] == [
        "Likes green tea"
    ]
    deleted = client.delete_profile("ana", search_query="tea")
    assert deleted.message == "Deleted 1 profile(s)."


def test_playbook_operations_through_the_client(client):
    for user_id in ("ana", "ben"):
        client.publish_interaction(user_id, REFUND_CORRECTION_TURNS, agent_version="v2")

    rerun = client.rerun_playbook_generation("v2", wait_for_response=True)
    assert rerun.success is True
    assert rerun.playbooks_generated == 2
    assert client.upgrade_user_playbooks("v2").user_playbooks_promoted == 2
    assert client.manual_playbook_generation("v2") is None

    aggregated = client.run_playbook_aggregation("v2", NAME, wait_for_response=True)
    assert aggregated.success is True
    pending = client.get_agent_playbooks("v2", playbook_status_filter="pending")
    [proposal] = pending.agent_playbooks
    assert client.get_agent_playbooks("v2").agent_playbooks == []
    client.update_agent_playbook_status(proposal.agent_playbook_id, "approved")
    approved = client.get_agent_playbooks("v2").agent_playbooks
    assert [p.agent_playbook_id for p in approved] == [proposal.agent_playbook_id]


def test_errors_carry_the_status_and_the_server_message(client, live_server):
    with pytest.raises(ReflexioError) as missing:
        client.get_operation_status(operation_id=999999)
    with pytest.raises(ReflexioError) as bad_key:
        ReflexioClient(live_server.url, "rfx_wrong").whoami()
    with pytest.raises(ReflexioError) as unreachable:
        ReflexioClient("http://127.0.0.1:9", "k", timeout=2).whoami()

    assert missing.value.status_code == 404
    assert "999999" in missing.value.message
    assert bad_key.value.status_code == 401
    assert bad_key.value.message == "Invalid API key."
    assert unreachable.value.status_code == 0
