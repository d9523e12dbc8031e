"""Whatever a caller sends, the answer is a clear 4xx, never a 500."""

import pytest
from django.urls import get_resolver

pytestmark = pytest.mark.django_db

ENDPOINTS = [
    pattern.name
    for pattern in get_resolver("reflexio_admin.api.urls").url_patterns
    if not str(pattern.pattern).startswith("review/")
]
ODD_VALUES = [None, -1, 10**30, "x" * 300, [None], {"a": 1}, "\x00"]
READ_BY_GET = {"get_all_profiles", "get_operation_status", "whoami"}
FIELDS = [
    "user_id",
    "profile_id",
    "top_k",
    "status_filter",
    "start_time",
    "operation_id",
    "user_playbook_id",
    "agent_playbook_id",
    "playbook_status",
    "agent_version",
    "service_name",
    "interaction_data_list",
    "user_profiles",
    "user_playbooks",
    "profile_ids",
]


@pytest.mark.parametrize("name", ENDPOINTS)
def test_odd_input_is_answered_with_a_4xx_and_a_message(make_api, name):
    api = make_api("root", superuser=True)

    for field in FIELDS:
        for value in ODD_VALUES:
            if name in READ_BY_GET:
                response = api.call("GET", name, query={field: str(value)})
            else:
                response = api.call("POST", name, {field: value})
            assert response.status_code < 500, (name, field, value)
            if response.status_code >= 400:
                assert response.json()["msg"], (name, field, value)
