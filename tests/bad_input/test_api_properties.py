"""Every JSON endpoint, fed generated hostile input: never a 500, never half a write.

Each endpoint gets EXAMPLES generated requests: bodies shaped by its request
model with wrong types, oversized and hostile values mixed in at every level,
and bodies that are not JSON objects at all. A refusal is a 4xx with a message
and leaves every stored row exactly as it was.
"""

import json
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.urls import get_resolver
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from playbooks.models import AgentPlaybook, UserPlaybook
from profiles.models import UserProfile
from reflexio_admin.models import Interaction, Operation, Request
from tests.api import issue_key
from tests.bad_input.strategies import (
    Existing,
    fingerprint,
    from_schema,
    hostile_text,
    malformed_body,
    resolve,
)

pytestmark = pytest.mark.django_db

EXAMPLES = 50

ENDPOINTS = {
    pattern.name: pattern.callback
    for pattern in get_resolver("reflexio_admin.api.urls").url_patterns
}


def _path(name: str) -> str:
    for pattern in get_resolver("reflexio_admin.api.urls").url_patterns:
        if pattern.name == name:
            return f"/api/{pattern.pattern}"
    raise LookupError(name)


# A valid body per endpoint that needs more than defaults; examples change
# one field of it, so that they reach the service with one bad value.
TURN = {"role": "User", "content": "I live in Berlin."}
VALID = {
    "publish_interaction": {
        "user_id": "ana",
        "session_id": "s-1",
        "interaction_data_list": [TURN],
    },
    "add_user_profile": {"user_profiles": [{"user_id": "ana", "content": "Has a cat"}]},
    "add_user_playbook": {
        "user_playbooks": [{"user_id": "ana", "trigger": "refund", "content": "x"}]
    },
    "run_playbook_aggregation": {"playbook_name": "default_playbook_extractor"},
    "update_agent_playbook_status": {
        "agent_playbook_id": Existing("agent_playbook"),
        "playbook_status": "approved",
    },
    "update_user_profile": {"user_id": "ana", "profile_id": Existing("profile")},
    "get_profiles": {"user_id": "ana"},
    "get_interactions": {"user_id": "ana"},
}


def _one_field_changed(name: str, model: dict) -> st.SearchStrategy:
    properties = model.get("properties", {})
    if not properties:
        return st.just(VALID.get(name, {}))
    defs = model.get("$defs", {})
    change = st.sampled_from(sorted(properties)).flatmap(
        lambda key: from_schema(properties[key], defs, key).map(lambda v: {key: v})
    )
    return change.map(lambda changed: VALID.get(name, {}) | changed)


def _body(name: str, view) -> st.SearchStrategy:
    """Schema-shaped JSON, a valid body with one field changed, or not JSON."""
    schema = view.api_schema
    if schema is None:
        return st.one_of(st.just({}), malformed_body)
    model = schema.model_json_schema()
    return st.one_of(
        from_schema(model, wrong=False),
        _one_field_changed(name, model),
        _one_field_changed(name, model),
        from_schema(model),
        malformed_body,
    )


def _query(view) -> st.SearchStrategy:
    """Query parameters: the schema's, as text, or any names and values."""
    schema = view.api_schema
    names = list(schema.model_fields) if schema else ["user_id"]
    anything = st.dictionaries(
        st.sampled_from(names) | hostile_text, hostile_text, max_size=6
    )
    if schema is None:
        return anything
    # Values become text in _send, once their ids are filled in.
    shaped = from_schema(schema.model_json_schema()).filter(
        lambda query: isinstance(query, dict)
    )
    return st.one_of(shaped, shaped, anything)


def _as_text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _send(client: Client, key: str, name: str, method: str, payload) -> object:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    if method == "GET":
        query = {k: _as_text(v) for k, v in payload.items()}
        url = _path(name) + "?" + urlencode(query, errors="surrogatepass")
        return client.get(url, **headers)
    data = payload if isinstance(payload, bytes) else json.dumps(payload)
    return client.generic(
        method, _path(name), data, content_type="application/json", **headers
    )


def _check(response, before: str) -> None:
    assert response.status_code < 500, response.content[:500]
    body = response.json()
    if response.status_code >= 400:
        assert body["success"] is False
        assert body["msg"].strip()
        assert fingerprint() == before, "a refused request changed stored rows"


@pytest.fixture
def root_key(db) -> str:
    return issue_key("root", superuser=True)[1]


@pytest.mark.parametrize("name", sorted(ENDPOINTS))
def test_an_endpoint_answers_hostile_input_with_a_4xx_and_writes_nothing(
    client, root_key, stored, name
):
    view = ENDPOINTS[name]
    methods = [m for m in view.api_methods if m != "GET"]

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )
    @given(data=st.data())
    def run(data):
        if methods:
            method = data.draw(st.sampled_from(methods), label="method")
            payload = resolve(data.draw(_body(name, view), label="body"), stored)
        else:
            method = "GET"
            payload = resolve(data.draw(_query(view), label="query"), stored)
        before = fingerprint()

        response = _send(client, root_key, name, method, payload)

        event(f"HTTP {response.status_code}")
        _check(response, before)

    run()


def test_every_endpoint_is_walked():
    assert len(ENDPOINTS) >= 30
    assert all(hasattr(view, "api_schema") for view in ENDPOINTS.values())


# Publishing many megabytes


def test_publishing_many_megabytes_is_refused_with_the_limit_and_stores_nothing(
    client, root_key
):
    turns = [{"role": "User", "content": "x" * 900_000} for _ in range(24)]
    body = {"user_id": "ana", "session_id": "s", "interaction_data_list": turns}

    response = client.post(
        "/api/publish_interaction",
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {root_key}",
    )

    assert response.status_code == 413
    assert "the limit is 5,242,880 bytes" in response.json()["msg"]
    assert "API_MAX_BODY_BYTES" in response.json()["msg"]
    assert not Request.objects.exists()
    assert not Interaction.objects.exists()


def test_a_refused_batch_writes_none_of_its_items(client, root_key, stored):
    counts = (UserProfile.objects.count(), UserPlaybook.objects.count())
    good = {"user_id": "ana", "content": "Has a cat"}
    bad = {"user_id": "ana", "content": "x", "profile_time_to_live": "forever"}

    response = client.post(
        "/api/add_user_profile",
        json.dumps({"user_profiles": [good, good, bad]}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {root_key}",
    )

    assert response.status_code == 400
    assert "user_profiles[2].profile_time_to_live" in response.json()["msg"]
    assert (UserProfile.objects.count(), UserPlaybook.objects.count()) == counts
    assert AgentPlaybook.objects.count() == 1
    assert Operation.objects.count() == 1
