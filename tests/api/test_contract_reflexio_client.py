"""The published `reflexio-client` works against this server unchanged.

A live server runs jobs in its embedded thread pool, as `make run` does, and
the offline LLM stands in for the model. The client's own operation polling
waits 3 s between polls, so each test waits on it at most once.
"""

import time

import pytest
import requests
from django.contrib.auth.models import User
from reflexio import ReflexioClient
from reflexio.models.api_schema.domain.enums import PlaybookStatus, Status

from playbooks.models import AgentPlaybook
from reflexio_admin import queue
from reflexio_admin.models import (
    FINAL_STATUSES,
    ApiKey,
    Interaction,
    Operation,
    OperationKind,
    Request,
)
from tests.factories import REFUND_CORRECTION

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

NAME = "default_playbook_extractor"


def eventually(check, timeout=20.0):
    """Poll `check` until it returns something truthy; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.2)


def finished(kind):
    return eventually(
        lambda: Operation.objects.filter(kind=kind, status__in=FINAL_STATUSES).first()
    )


@pytest.fixture
def client(live_server, settings):
    settings.QUEUE_BACKEND = "embedded"
    user = User.objects.create_superuser("root", password="x")
    _, raw = ApiKey.issue(user=user, name="contract")
    yield ReflexioClient(api_key=raw, url_endpoint=live_server.url)
    # Let background jobs end before the tables are emptied.
    queue.shutdown_embedded(wait=True)


def turns(*texts):
    return [{"role": "User", "content": text} for text in texts]


def publish(client, user_id, interactions, **kwargs):
    response = client.publish_interaction(
        user_id=user_id, interactions=interactions, session_id="s1", **kwargs
    )
    assert response.success is True
    return response


REFUND_TURNS = [
    {"role": t[0], "content": t[1]} if isinstance(t, tuple) else turns(t)[0]
    for t in REFUND_CORRECTION
]


def test_publish_stores_the_interactions_and_they_read_back(client):
    response = publish(
        client,
        "ana",
        [
            *turns("I work night shifts."),
            {"role": "Assistant", "content": "", "tools_used": [{"tool_name": "t"}]},
        ],
        source="",
    )

    request = Request.objects.get(request_id=response.request_id)
    assert request.agent_version == "agent-v0"
    assert Interaction.objects.filter(request=request).count() == 2
    read = client.get_interactions(user_id="ana")
    assert {i.content for i in read.interactions} == {"I work night shifts.", ""}
    assert read.interactions[0].tools_used[0].tool_name == "t"


def test_rerun_with_wait_then_pending_profiles_then_upgrade(client):
    publish(client, "ana", turns("I work night shifts.", "I live in Berlin."))

    response = client.rerun_profile_generation(user_id="ana", wait_for_response=True)

    assert response.success is True
    assert response.msg == "Profile generation completed"
    pending = client.get_profiles(user_id="ana", status_filter=["pending"])
    assert {p.content for p in pending.user_profiles} == {
        "Works night shifts",
        "Lives in Berlin",
    }
    assert {p.status for p in pending.user_profiles} == {Status.PENDING}

    upgraded = client.upgrade_profiles(user_id="ana")
    assert upgraded.success is True
    assert (upgraded.profiles_promoted, upgraded.profiles_archived) == (2, 0)
    current = client.get_profiles(user_id="ana", force_refresh=True)
    assert len(current.user_profiles) == 2
    assert {p.status for p in current.user_profiles} == {None}


def test_rerun_without_wait_returns_none_and_the_operation_shows_up(client):
    publish(client, "ana", turns("I work night shifts."))

    assert client.rerun_profile_generation(user_id="ana") is None

    operation = finished(OperationKind.RERUN_PROFILES)
    status = client._make_request(
        "GET", "/api/get_operation_status", params={"operation_id": operation.pk}
    )
    assert status["operation_status"]["status"] == "completed"


def test_a_failed_precondition_reaches_the_caller_with_its_message(client):
    with pytest.raises(requests.HTTPError) as error:
        client.rerun_profile_generation(user_id="nobody", wait_for_response=True)

    assert error.value.response.status_code == 400
    assert "No interactions found for user_id=nobody" in str(error.value)
    assert "No interactions found" in error.value.response.json()["msg"]


def test_manual_generation_produces_current_profiles(client):
    publish(client, "ana", turns("I live in Berlin."))

    assert client.manual_profile_generation(user_id="ana") is None

    profiles = eventually(
        lambda: client.get_profiles(user_id="ana", force_refresh=True).user_profiles
    )
    assert [p.content for p in profiles] == ["Lives in Berlin"]


def test_playbooks_rerun_upgrade_aggregate_and_approve(client):
    for user_id in ("ana", "ben"):
        publish(client, user_id, REFUND_TURNS, agent_version="v2")

    rerun = client.rerun_playbook_generation(agent_version="v2", wait_for_response=True)
    assert rerun.success is True
    pending = client.get_user_playbooks(
        agent_version="v2", status_filter=[Status.PENDING]
    )
    assert len(pending.user_playbooks) == 2

    upgraded = client.upgrade_user_playbooks(agent_version="v2")
    assert upgraded.user_playbooks_promoted == 2

    aggregation = client.run_playbook_aggregation(
        agent_version="v2", playbook_name=NAME, wait_for_response=True
    )
    assert aggregation.success is True
    finished(OperationKind.AGGREGATE_PLAYBOOKS)
    proposals = client.get_agent_playbooks(
        agent_version="v2", playbook_status_filter=PlaybookStatus.PENDING
    ).agent_playbooks
    assert len(proposals) == 1

    approved = client.update_agent_playbook_status(
        proposals[0].agent_playbook_id, playbook_status=PlaybookStatus.APPROVED
    )
    assert approved.success is True
    served = client.get_agent_playbooks(agent_version="v2", force_refresh=True)
    assert [p.agent_playbook_id for p in served.agent_playbooks] == [
        proposals[0].agent_playbook_id
    ]
    assert AgentPlaybook.objects.get().reviewed_by.username == "root"


def test_manual_playbook_generation_produces_current_user_playbooks(client):
    publish(client, "ana", REFUND_TURNS, agent_version="v2")

    assert client.manual_playbook_generation(agent_version="v2") is None

    finished(OperationKind.MANUAL_PLAYBOOKS)
    current = client.get_user_playbooks(agent_version="v2")
    assert len(current.user_playbooks) == 1
    assert current.user_playbooks[0].status is None


def test_whoami_answers_in_reflexio_shape(client):
    assert client.whoami().success is True
