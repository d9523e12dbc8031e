"""The console's permission matrix holds for the API, endpoint by endpoint.

viewer: read and publish; support: also edit single items and regenerate one
user; reviewer: also reruns, upgrades, downgrades, aggregation, cancel and
retry, and approvals; admin: everything. A user without a role may only ask
who they are. A refusal is a 403 naming the missing permission, changes
nothing, and is written to the audit log with the caller and address.
"""

import json

import pytest
from django.test import Client

from reflexio_admin import roles
from reflexio_admin.models import AuditEvent
from tests.api import issue_key
from tests.bad_input.strategies import fingerprint
from tests.urlwalk import api_routes

pytestmark = pytest.mark.django_db

READ, PUBLISH, EDIT, ONE_USER, OPERATE, APPROVE, ANYONE = (
    "read",
    "publish",
    "edit",
    "regenerate one user",
    "operate",
    "approve",
    "anyone",
)
ALLOWED = {
    None: {ANYONE},
    roles.VIEWER: {ANYONE, READ, PUBLISH},
    roles.SUPPORT: {ANYONE, READ, PUBLISH, EDIT, ONE_USER},
    roles.REVIEWER: {ANYONE, READ, PUBLISH, EDIT, ONE_USER, OPERATE, APPROVE},
    roles.ADMIN: {ANYONE, READ, PUBLISH, EDIT, ONE_USER, OPERATE, APPROVE},
}
PERMISSION_NAME = {
    READ: "view_console",
    PUBLISH: "view_console",
    EDIT: "edit_profiles",
    ONE_USER: "generate_for_user",
    OPERATE: "run_operations",
    APPROVE: "review_playbooks",
}

# Each call: (kind of call, endpoint, a valid body or query). Bodies use
# placeholders for stored ids, filled in from the `stored` fixture.
CALLS = [
    (READ, "get_interactions", {"user_id": "ana"}),
    (READ, "get_requests", {}),
    (READ, "get_profiles", {"user_id": "ana"}),
    (READ, "get_all_profiles", {}),
    (READ, "get_operation_status", {}),
    (READ, "get_user_playbooks", {}),
    (READ, "get_agent_playbooks", {}),
    (READ, "review_profiles", {"user_id": "ana"}),
    (READ, "review_user_playbooks", {"agent_version": "agent-v0"}),
    (
        PUBLISH,
        "publish_interaction",
        {
            "user_id": "ana",
            "session_id": "s-1",
            "interaction_data_list": [{"role": "User", "content": "I live in Rome."}],
        },
    ),
    (EDIT, "add_user_profile", {"user_profiles": [{"user_id": "ana", "content": "x"}]}),
    (
        EDIT,
        "update_user_profile",
        {"user_id": "ana", "profile_id": "<profile>", "content": "Has two cats"},
    ),
    (EDIT, "delete_profile", {"user_id": "ana", "profile_id": "<profile>"}),
    (EDIT, "delete_profiles_by_ids", {"profile_ids": ["<profile>"]}),
    (
        EDIT,
        "add_user_playbook",
        {"user_playbooks": [{"user_id": "ana", "trigger": "t", "content": "c"}]},
    ),
    (EDIT, "update_user_playbook", {"user_playbook_id": "<user_playbook>"}),
    (EDIT, "delete_user_playbook", {"user_playbook_id": "<user_playbook>"}),
    (ONE_USER, "manual_profile_generation", {"user_id": "ana"}),
    (OPERATE, "manual_profile_generation", {}),
    (OPERATE, "rerun_profile_generation", {"user_id": "ana"}),
    (OPERATE, "upgrade_all_profiles", {}),
    (OPERATE, "downgrade_all_profiles", {}),
    (OPERATE, "cancel_operation", {}),
    (OPERATE, "retry_operation", {"operation_id": "<operation>"}),
    (OPERATE, "rerun_playbook_generation", {}),
    (OPERATE, "manual_playbook_generation", {}),
    (OPERATE, "upgrade_all_user_playbooks", {}),
    (OPERATE, "downgrade_all_user_playbooks", {}),
    (
        OPERATE,
        "run_playbook_aggregation",
        {"playbook_name": "default_playbook_extractor"},
    ),
    (
        APPROVE,
        "update_agent_playbook_status",
        {"agent_playbook_id": "<agent_playbook>", "playbook_status": "approved"},
    ),
    (
        APPROVE,
        "update_agent_playbook",
        {"agent_playbook_id": "<agent_playbook>", "content": "Quote the policy"},
    ),
    (ANYONE, "whoami", {}),
]
ROUTES = {route.name.removeprefix("api:"): route for route in api_routes()}


def test_every_api_endpoint_is_in_the_matrix():
    assert {name for _, name, _ in CALLS} == set(ROUTES)


def _fill(body: dict, stored: dict) -> dict:
    def value(item):
        if isinstance(item, str) and item.startswith("<"):
            return stored[item.strip("<>")][0]
        if isinstance(item, list):
            return [value(part) for part in item]
        return item

    return {key: value(item) for key, item in body.items()}


def _call(client: Client, key: str, name: str, body: dict):
    route = ROUTES[name]
    method = route.callback.api_methods[0]
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}", "REMOTE_ADDR": "198.51.100.4"}
    if method == "GET":
        return client.get(route.url(), body, **headers)
    return client.generic(
        method, route.url(), json.dumps(body), "application/json", **headers
    )


@pytest.mark.parametrize(
    ("kind", "name", "body"),
    CALLS,
    ids=[f"{name}[{kind}]" for kind, name, _ in CALLS],
)
def test_each_role_may_call_exactly_its_part_of_the_api(stored, kind, name, body):
    for role, allowed in ALLOWED.items():
        user, key = issue_key(f"{role or 'nobody'}-{name}"[:150], role)
        before = fingerprint(exclude=(AuditEvent,))
        denials = AuditEvent.objects.filter(action="permission_denied").count()

        response = _call(Client(), key, name, _fill(body, stored))

        if kind in allowed:
            assert response.status_code not in {401, 403}, (role, response.json())
            continue
        assert response.status_code == 403, role
        assert f"'{PERMISSION_NAME[kind]}'" in response.json()["msg"]
        assert fingerprint(exclude=(AuditEvent,)) == before, "a refusal wrote"
        event = AuditEvent.objects.filter(action="permission_denied").latest("id")
        assert AuditEvent.objects.filter(action="permission_denied").count() == (
            denials + 1
        )
        assert (event.actor, event.ip_address) == (user, "198.51.100.4")
        assert event.scope["needs"].endswith(PERMISSION_NAME[kind])
        assert event.scope["path"] == ROUTES[name].url()


def test_a_superuser_key_may_call_everything(stored):
    _, key = issue_key("root", superuser=True)

    for _, name, body in CALLS:
        response = _call(Client(), key, name, _fill(body, stored))

        assert response.status_code not in {401, 403}, name
