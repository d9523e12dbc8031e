"""GET /api/review/profiles and /api/review/user_playbooks, for scripts."""

import pytest

from tests.api import ApiClient, issue_key
from tests.review.builders import (
    by_text,
    current_facts,
    current_rules,
    pending_facts,
    pending_rules,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client):
    _, raw = issue_key("vic", "viewer")
    return ApiClient(client, raw)


def test_the_profile_review_answers_exactly_the_documented_shape(api):
    current_facts("ana", ["Works night shifts", "Lives in Berlin", "Has a dog"])
    pending_facts("ana", ["Works night shifts", "Lives in Munich", "Prefers tea"])
    pending = by_text("ana", "pending")
    current = by_text("ana", "current")

    response = api.get("review/profiles", user_id="ana")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"stale", "counts", "items"}
    assert body["stale"] is False
    assert body["counts"] == {"unchanged": 1, "reworded": 1, "added": 1, "removed": 1}
    for item in body["items"]:
        assert set(item) == {"label", "pending", "current", "similarity"}
    by_label = {item["label"]: item for item in body["items"]}
    assert by_label["reworded"]["pending"] == {
        "id": pending["Lives in Munich"].profile_id,
        "content": "Lives in Munich",
    }
    assert by_label["reworded"]["current"] == {
        "id": current["Lives in Berlin"].profile_id,
        "content": "Lives in Berlin",
    }
    assert 0.5 <= by_label["reworded"]["similarity"] < 1
    assert by_label["unchanged"]["similarity"] == 1.0
    assert by_label["added"]["current"] is None
    assert by_label["added"]["similarity"] is None
    assert by_label["removed"]["pending"] is None


def test_the_profile_review_narrows_to_one_extractor_and_says_when_stale(api):
    current_facts("ana", ["Has a dog"], extractor="other")
    pending_facts("ana", ["Has a cat"], extractor="other")
    pending_facts("ana", ["Works night shifts"])
    current_facts("ana", ["Likes tea"], extractor="other")

    whole = api.get("review/profiles", user_id="ana").json()
    one = api.get(
        "review/profiles", user_id="ana", extractor="default_profile_extractor"
    ).json()

    assert whole["stale"] is True
    assert one["stale"] is False
    assert one["counts"] == {"unchanged": 0, "reworded": 0, "added": 1, "removed": 0}


def test_a_user_without_pending_profiles_has_an_empty_review(api):
    current_facts("ana", ["Has a dog"])

    body = api.get("review/profiles", user_id="ana").json()

    assert body == {
        "stale": False,
        "counts": {"unchanged": 0, "reworded": 0, "added": 0, "removed": 0},
        "items": [],
    }


def test_the_user_playbook_review_covers_an_agent_version(api):
    (old,) = current_rules("ana", [("When the user asks for a refund", "Quote policy")])
    (new,) = pending_rules(
        "ana", [("When the user asks for a refund", "Quote the policy number")]
    )
    pending_rules("ben", [("When the user is angry", "Apologise once")])

    body = api.get("review/user_playbooks", agent_version="v2").json()
    narrowed = api.get(
        "review/user_playbooks", agent_version="v2", user_id="ben"
    ).json()

    assert body["counts"] == {"unchanged": 0, "reworded": 1, "added": 1, "removed": 0}
    reworded = next(i for i in body["items"] if i["label"] == "reworded")
    assert reworded["pending"] == {
        "id": new.pk,
        "content": "When the user asks for a refund: Quote the policy number",
    }
    assert reworded["current"]["id"] == old.pk
    assert narrowed["counts"]["added"] == 1
    assert len(narrowed["items"]) == 1


def test_it_needs_a_key(client):
    response = ApiClient(client, None).get("review/profiles", user_id="ana")

    assert response.status_code == 401
    assert response.json()["success"] is False


@pytest.mark.parametrize(
    ("path", "field"),
    [("review/profiles", "user_id"), ("review/user_playbooks", "agent_version")],
)
def test_it_needs_its_scope(api, path, field):
    missing = api.get(path)
    blank = api.get(path, **{field: "  "})

    assert missing.status_code == 400
    assert field in missing.json()["msg"]
    assert blank.status_code == 400


def test_it_only_answers_get(api):
    assert api.post("review/profiles", {"user_id": "ana"}).status_code == 405
