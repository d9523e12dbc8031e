from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from reflexio_admin.models import ApiKey, Operation
from tests.api import ApiClient, issue_key, publish_body
from tests.factories import conversation

pytestmark = pytest.mark.django_db


def test_a_call_without_a_key_is_a_401_in_json(client):
    response = ApiClient(client, None).post("get_profiles", {"user_id": "ana"})

    assert response.status_code == 401
    assert response.json()["success"] is False
    assert "Authorization: Bearer" in response.json()["msg"]
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_key_that_does_not_exist_is_a_401(client):
    response = ApiClient(client, "rfx_not-a-real-key").get("whoami")

    assert response.status_code == 401
    assert response.json()["msg"] == "Invalid API key."


def test_an_authorization_header_that_is_not_bearer_is_a_401(client):
    response = client.get("/api/whoami", HTTP_AUTHORIZATION="Basic dXNlcjpwdw==")

    assert response.status_code == 401
    assert "Bearer" in response.json()["msg"]


def test_a_revoked_key_is_refused_at_once(client):
    user, raw = issue_key("rita")
    api = ApiClient(client, raw)
    assert api.get("whoami").status_code == 200

    ApiKey.objects.filter(user=user).update(revoked_at=timezone.now())

    response = api.get("whoami")
    assert response.status_code == 401
    assert "revoked" in response.json()["msg"]


def test_the_key_of_a_deactivated_user_is_refused(client):
    user, raw = issue_key("rita")
    User.objects.filter(pk=user.pk).update(is_active=False)

    response = ApiClient(client, raw).get("whoami")

    assert response.status_code == 401
    assert "deactivated" in response.json()["msg"]


def test_a_console_session_alone_does_not_authenticate_the_api(client):
    admin = User.objects.create_superuser("root", password="x")
    client.force_login(admin)

    response = client.post(
        "/api/get_profiles", {"user_id": "ana"}, content_type="application/json"
    )

    assert response.status_code == 401


def test_only_the_hash_of_the_key_is_stored(client):
    _, raw = issue_key("rita")

    key = ApiKey.objects.get()
    assert raw not in (key.key_hash, key.prefix)
    assert not ApiKey.objects.filter(key_hash=raw).exists()


def test_last_used_at_is_written_at_most_once_a_minute(client):
    _, raw = issue_key("rita")
    api = ApiClient(client, raw)

    api.get("whoami")
    first = ApiKey.objects.get().last_used_at
    api.get("whoami")
    assert ApiKey.objects.get().last_used_at == first

    ApiKey.objects.update(last_used_at=first - timedelta(minutes=2))
    api.get("whoami")
    assert ApiKey.objects.get().last_used_at > first


def test_a_viewer_may_read_and_publish_but_not_change_anything(make_api):
    viewer = make_api("vic", "viewer")
    conversation("ana", ["I live in Berlin."])

    assert viewer.post("get_profiles", {"user_id": "ana"}).status_code == 200
    assert viewer.post("publish_interaction", publish_body()).status_code == 200
    for name, body in [
        ("add_user_profile", {"user_profiles": [{"user_id": "a", "content": "x"}]}),
        ("rerun_profile_generation", {"user_id": "ana"}),
        ("manual_profile_generation", {"user_id": "ana"}),
        ("upgrade_all_profiles", {}),
        ("update_agent_playbook_status", {"agent_playbook_id": 1}),
        ("cancel_operation", {}),
    ]:
        response = viewer.post(name, body)
        assert response.status_code == 403, name
    assert not Operation.objects.exists()


def test_a_403_names_the_missing_permission(make_api):
    viewer = make_api("vic", "viewer")

    response = viewer.post("rerun_profile_generation", {"user_id": "ana"})

    assert "vic" in response.json()["msg"]
    assert "'run_operations'" in response.json()["msg"]


def test_support_may_generate_for_one_user_but_not_for_everyone(make_api):
    support = make_api("sam", "support")
    conversation("ana", ["I live in Berlin."])

    one = support.post("manual_profile_generation", {"user_id": "ana"})
    everyone = support.post("manual_profile_generation", {})
    rerun = support.post("rerun_profile_generation", {"user_id": "ana"})

    assert one.status_code == 200
    assert everyone.status_code == 403
    assert "'run_operations'" in everyone.json()["msg"]
    assert rerun.status_code == 403


def test_support_may_edit_profiles_but_not_review_playbooks(make_api):
    support = make_api("sam", "support")

    added = support.post(
        "add_user_profile", {"user_profiles": [{"user_id": "ana", "content": "x"}]}
    )
    review = support.put(
        "update_agent_playbook_status",
        {"agent_playbook_id": 1, "playbook_status": "approved"},
    )

    assert added.status_code == 200
    assert review.status_code == 403


def test_a_user_without_a_role_may_not_even_read(make_api):
    nobody = make_api("nobody", None)

    assert nobody.post("get_profiles", {"user_id": "ana"}).status_code == 403
    assert nobody.get("whoami").status_code == 200


def test_a_superuser_passes_every_permission(make_api):
    root = make_api("root", superuser=True)
    conversation("ana", ["I live in Berlin."])

    response = root.post("rerun_profile_generation", {"user_id": "ana"})

    assert response.status_code == 200


def test_authentication_comes_before_reading_the_body(client, settings):
    settings.API_MAX_BODY_BYTES = 10

    response = ApiClient(client, None).post("publish_interaction", publish_body())

    assert response.status_code == 401


def test_whoami_tells_who_the_key_belongs_to(api):
    body = api.get("whoami").json()

    assert body["success"] is True
    assert body["username"] == "rita"
    assert body["org_id"] == "reflexio-admin"
    assert "run_operations" in body["permissions"]
    assert "manage_settings" not in body["permissions"]
    assert body["api_key_prefix"].startswith("rfx_")
