import json

import pytest

from playbooks import services
from playbooks.models import AgentPlaybook, Approval, UserPlaybook
from reflexio_admin.models import AuditEvent, Operation, OperationKind
from reflexio_admin.status import Status
from tests.factories import REFUND_CORRECTION, conversation

pytestmark = pytest.mark.django_db

NAME = "default_playbook_extractor"


def playbook(user_id="ana", content="Quote the refund policy first.", **kw):
    kw.setdefault("agent_version", "v2")
    kw.setdefault("playbook_name", NAME)
    return services.user_playbook_add(user_id=user_id, content=content, **kw)


def contents(response, key="user_playbooks") -> set[str]:
    return {p["content"] for p in response.json()[key]}


def learn_refunds(api, *users: str) -> None:
    for user_id in users:
        conversation(user_id, REFUND_CORRECTION, agent_version="v2")
    response = api.post("manual_playbook_generation", {"agent_version": "v2"})
    assert response.status_code == 200, response.content


def test_get_user_playbooks_returns_current_ones_in_reflexio_shape(api):
    live = playbook(trigger="When the user asks for a refund", request_id="req-9")
    playbook(content="Offer store credit.", status=Status.PENDING)

    response = api.post("get_user_playbooks", {"agent_version": "v2"})

    [view] = response.json()["user_playbooks"]
    assert view["user_playbook_id"] == live.pk
    assert view["status"] is None
    assert view["trigger"] == "When the user asks for a refund"
    assert view["request_id"] == "req-9"
    assert view["playbook_name"] == NAME
    assert view["created_at"] == int(live.created_at.timestamp())


def test_get_user_playbooks_filters_by_status_user_and_query(api):
    playbook(user_id="ana", content="Quote the refund policy first.")
    playbook(user_id="bob", content="Paste invoices in the chat.")
    playbook(user_id="ana", content="Offer store credit.", status=Status.PENDING)

    pending = api.post("get_user_playbooks", {"status_filter": ["pending"]})
    bob = api.post("get_user_playbooks", {"user_id": "bob"})
    query = api.post("get_user_playbooks", {"query": "REFUND"})

    assert contents(pending) == {"Offer store credit."}
    assert contents(bob) == {"Paste invoices in the chat."}
    assert contents(query) == {"Quote the refund policy first."}


def test_add_user_playbook_adds_and_requires_a_user(api):
    added = api.post(
        "add_user_playbook",
        {
            "user_playbooks": [
                {"user_id": "ana", "agent_version": "v2", "content": "Be brief."}
            ]
        },
    )
    missing = api.post(
        "add_user_playbook",
        {"user_playbooks": [{"agent_version": "v2", "content": "Be brief."}]},
    )

    assert added.json()["added_count"] == 1
    assert UserPlaybook.objects.get().playbook_name == NAME
    assert missing.status_code == 400
    assert "user_id is required" in missing.json()["msg"]


def test_update_user_playbook_edits_in_place_with_put_as_the_client_sends(api):
    rule = playbook()

    response = api.put(
        "update_user_playbook", {"user_playbook_id": rule.pk, "content": "Be kind."}
    )

    assert response.json()["success"] is True
    rule.refresh_from_db()
    assert rule.content == "Be kind."
    assert AuditEvent.objects.filter(action="user_playbook_updated").exists()


def test_an_unknown_user_playbook_is_a_404(api):
    response = api.put(
        "update_user_playbook", {"user_playbook_id": 424242, "content": "x"}
    )

    assert response.status_code == 404
    assert "424242" in response.json()["msg"]


def test_delete_user_playbook(api):
    rule = playbook()

    response = api.delete("delete_user_playbook", {"user_playbook_id": rule.pk})

    assert response.json()["success"] is True
    assert not UserPlaybook.objects.exists()


def test_a_playbook_rerun_writes_pending_playbooks_for_the_agent_version(api):
    conversation("ana", REFUND_CORRECTION, agent_version="v2")

    response = api.post("rerun_playbook_generation", {"agent_version": "v2"})

    assert response.json()["success"] is True
    operation = Operation.objects.get(pk=int(response.json()["operation_id"]))
    assert operation.kind == OperationKind.RERUN_PLAYBOOKS
    pending = api.post(
        "get_user_playbooks", {"agent_version": "v2", "status_filter": ["pending"]}
    )
    assert len(pending.json()["user_playbooks"]) == 1
    info = api.get("get_operation_status", service_name="playbook_generation").json()
    assert info["operation_status"]["operation_id"] == operation.pk


def test_a_playbook_rerun_without_agent_version_uses_agent_v0(api):
    response = api.post("rerun_playbook_generation", {"agent_version": ""})

    assert response.status_code == 400
    assert "agent_version=agent-v0" in response.json()["msg"]


def test_manual_playbook_generation_writes_current_playbooks(api):
    learn_refunds(api, "ana")

    current = api.post("get_user_playbooks", {"agent_version": "v2"})
    assert len(current.json()["user_playbooks"]) == 1


def test_upgrade_and_downgrade_of_user_playbooks_report_their_counts(api):
    playbook(content="Old rule.")
    playbook(content="New rule.", status=Status.PENDING)

    upgraded = api.post("upgrade_all_user_playbooks", {"agent_version": "v2"}).json()
    again = api.post("upgrade_all_user_playbooks", {"agent_version": "v2"}).json()
    downgraded = api.post(
        "downgrade_all_user_playbooks", {"agent_version": "v2"}
    ).json()

    assert (
        upgraded["user_playbooks_promoted"],
        upgraded["user_playbooks_archived"],
    ) == (
        1,
        1,
    )
    assert again["success"] is True
    assert again["user_playbooks_promoted"] == 0
    assert again["message"] == (
        "Nothing to upgrade: no pending user playbooks for agent_version v2."
    )
    assert downgraded["user_playbooks_restored"] == 1
    assert contents(api.post("get_user_playbooks", {})) == {"Old rule."}


def test_an_upgrade_that_would_drop_current_playbooks_is_refused(api):
    response = api.post("upgrade_all_user_playbooks", {"archive_current": False})

    assert response.status_code == 400
    assert response.json()["msg"].startswith("archive_current:")


def test_aggregation_proposes_pending_agent_playbooks(api):
    learn_refunds(api, "ana", "ben")

    response = api.post(
        "run_playbook_aggregation", {"agent_version": "v2", "playbook_name": NAME}
    )

    assert response.json()["success"] is True
    assert Operation.objects.get(pk=int(response.json()["operation_id"])).kind == (
        OperationKind.AGGREGATE_PLAYBOOKS
    )
    approved = api.post("get_agent_playbooks", {"agent_version": "v2"})
    pending = api.post(
        "get_agent_playbooks",
        {"agent_version": "v2", "playbook_status_filter": "pending"},
    )
    assert approved.json()["agent_playbooks"] == []
    [view] = pending.json()["agent_playbooks"]
    assert view["playbook_status"] == "pending"
    assert view["status"] is None
    assert len(json.loads(view["playbook_metadata"])["source_user_playbook_ids"]) == 2


def test_aggregation_that_cannot_run_says_exactly_why(api):
    no_config = api.post(
        "run_playbook_aggregation", {"agent_version": "v2", "playbook_name": "playbook"}
    )
    too_few = api.post(
        "run_playbook_aggregation", {"agent_version": "v2", "playbook_name": NAME}
    )

    assert no_config.status_code == 400
    assert "no playbook extractor has that name" in no_config.json()["msg"]
    assert too_few.status_code == 400
    assert "Only 0 current user playbook(s)" in too_few.json()["msg"]


def test_approving_an_agent_playbook_makes_agents_see_it(api):
    learn_refunds(api, "ana", "ben")
    api.post("run_playbook_aggregation", {"agent_version": "v2", "playbook_name": NAME})
    proposal = AgentPlaybook.objects.get()

    response = api.put(
        "update_agent_playbook_status",
        {"agent_playbook_id": proposal.pk, "playbook_status": "approved"},
    )

    assert response.json()["success"] is True
    proposal.refresh_from_db()
    assert proposal.approval == Approval.APPROVED
    assert proposal.reviewed_by.username == "rita"
    served = api.post("get_agent_playbooks", {"agent_version": "v2"})
    assert [p["agent_playbook_id"] for p in served.json()["agent_playbooks"]] == [
        proposal.pk
    ]


def test_an_invalid_approval_is_a_400_and_an_unknown_id_a_404(api):
    invalid = api.put(
        "update_agent_playbook_status",
        {"agent_playbook_id": 1, "playbook_status": "maybe"},
    )
    unknown = api.put(
        "update_agent_playbook_status",
        {"agent_playbook_id": 999999, "playbook_status": "approved"},
    )

    assert invalid.status_code == 400
    assert invalid.json()["msg"].startswith("playbook_status:")
    assert unknown.status_code == 404


def test_update_agent_playbook_edits_the_text_and_the_approval(api):
    learn_refunds(api, "ana", "ben")
    api.post("run_playbook_aggregation", {"agent_version": "v2", "playbook_name": NAME})
    proposal = AgentPlaybook.objects.get()

    api.post(
        "update_agent_playbook",
        {
            "agent_playbook_id": proposal.pk,
            "content": "Refund to the original payment method.",
            "playbook_status": "rejected",
        },
    )

    proposal.refresh_from_db()
    assert proposal.content == "Refund to the original payment method."
    assert proposal.approval == Approval.REJECTED
