"""Who did what, from where and when: refusals, sign-ins and every operation.

Each change made from the console or the API is written to the audit log
with the acting user, their address and the time. So is every refused
request (403), and the login page says plainly when sign-in is paused.
"""

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from playbooks import services as playbook_services
from playbooks.models import AgentPlaybook
from profiles import services as profile_services
from reflexio_admin import roles
from reflexio_admin.models import (
    AuditEvent,
    Operation,
    OperationKind,
    OperationStatus,
    OperationUser,
)
from reflexio_admin.security import cooloff_message
from tests.api import issue_key
from tests.factories import REFUND_CORRECTION, conversation, user_with_role
from tests.urlwalk import console_routes

pytestmark = pytest.mark.django_db

ADDRESS = "203.0.113.9"


# Refusals


def test_a_refused_console_request_is_audited_with_who_what_and_where():
    viewer = user_with_role("vic", roles.VIEWER)
    client = Client(REMOTE_ADDR=ADDRESS)
    client.force_login(viewer)

    plain = client.post(reverse("profiles:upgrade"), {"user_id": "ana"})
    htmx = client.get(reverse("console:settings"), HTTP_HX_REQUEST="true")

    assert (plain.status_code, htmx.status_code) == (403, 403)
    events = AuditEvent.objects.filter(action="permission_denied").order_by("id")
    assert [(e.actor, e.ip_address) for e in events] == [(viewer, ADDRESS)] * 2
    assert [e.scope["needs"] for e in events] == [
        roles.RUN_OPERATIONS,
        roles.MANAGE_SETTINGS,
    ]
    assert events[0].scope["path"] == "/profiles/upgrade/"
    assert events[0].scope["method"] == "POST"


def test_a_user_without_a_role_is_audited_on_every_page_they_try():
    nobody = user_with_role("nobody", None)
    client = Client(REMOTE_ADDR=ADDRESS)
    client.force_login(nobody)
    pages = [
        route.url()
        for route in console_routes()
        if route.name not in {"login", "logout"}
    ]

    answers = {client.get(url).status_code for url in pages}

    assert answers <= {403, 405}
    refused = AuditEvent.objects.filter(action="permission_denied", actor=nobody)
    assert refused.count() >= len(pages) - 10


def test_a_refused_api_call_is_audited_with_the_keys_user():
    user, key = issue_key("vic", roles.VIEWER)

    response = Client().post(
        "/api/run_playbook_aggregation",
        json.dumps({"playbook_name": "default_playbook_extractor"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
        REMOTE_ADDR=ADDRESS,
    )

    assert response.status_code == 403
    event = AuditEvent.objects.get(action="permission_denied")
    assert (event.actor, event.actor_name, event.ip_address) == (user, "vic", ADDRESS)
    assert event.scope["needs"] == roles.RUN_OPERATIONS


# Signing in


def test_the_login_page_says_when_sign_in_is_paused_and_for_how_long(settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    User.objects.create_user("rita", password="correct horse battery")
    client = Client(REMOTE_ADDR=ADDRESS)
    bad = {"username": "rita", "password": "wrong"}

    first = client.post(reverse("login"), bad).content.decode()
    client.post(reverse("login"), bad)
    client.post(reverse("login"), bad)
    paused = client.post(
        reverse("login"), {"username": "rita", "password": "correct horse battery"}
    )

    assert "correct username and password" in first
    assert paused.status_code == 200
    assert cooloff_message() in paused.content.decode()
    assert "_auth_user_id" not in client.session
    throttled = AuditEvent.objects.get(action="login_throttled")
    assert throttled.ip_address == ADDRESS


def test_sign_ins_and_sign_outs_are_audited_with_address_and_time():
    rita = User.objects.create_user("rita", password="correct horse battery")
    client = Client(REMOTE_ADDR=ADDRESS)
    good = {"username": "rita", "password": "correct horse battery"}

    client.post(reverse("login"), {"username": "rita", "password": "nope"})
    client.post(reverse("login"), good)
    client.post(reverse("logout"))

    events = list(AuditEvent.objects.order_by("id"))
    assert [e.action for e in events] == ["login_failed", "login", "logout"]
    assert [e.actor for e in events] == [None, rita, rita]
    assert {e.ip_address for e in events} == {ADDRESS}
    assert all(timezone.now() - e.created_at < timedelta(minutes=1) for e in events)


# Every operation, from the console and from the API


@pytest.fixture
def knowledge(db):
    """Pending, current and archived profiles and playbooks; runs to act on."""
    conversation("ana", ["I live in Berlin.", "I prefer metric units."])
    for user_id in ("ana", "ben", "cat"):
        conversation(user_id, REFUND_CORRECTION, agent_version="agent-v0")
    profile_services.manual_profile_generation()
    profile_services.rerun_profile_generation(user_id="ana")
    playbook_services.manual_playbook_generation(agent_version="agent-v0")
    playbook_services.rerun_playbook_generation(agent_version="agent-v0")
    running = Operation.objects.create(
        kind=OperationKind.RERUN_PLAYBOOKS,
        scope_key="agent-v9/*",
        params={"agent_version": "agent-v9"},
        status=OperationStatus.QUEUED,
    )
    failed = Operation.objects.create(
        kind=OperationKind.RERUN_PROFILES,
        scope_key="profiles/ana",
        params={"user_id": "ana"},
        status=OperationStatus.COMPLETED,
        total_users=1,
        failed_users=1,
    )
    OperationUser.objects.create(operation=failed, user_id="ana", state="failed")
    agent = AgentPlaybook.objects.create(
        agent_version="agent-v0",
        playbook_name="default_playbook_extractor",
        content="Refund to the card",
    )
    return {"running": running, "failed": failed, "agent": agent}


def _new_events(since: int):
    return list(AuditEvent.objects.filter(pk__gt=since).order_by("id"))


def _assert_audited(user, since: int, label: str) -> list[AuditEvent]:
    events = _new_events(since)
    assert events, f"{label}: nothing in the audit log"
    for event in events:
        assert event.actor == user, label
        assert event.ip_address == ADDRESS, label
        assert timezone.now() - event.created_at < timedelta(minutes=1), label
    return events


def _console_actions() -> list[tuple[str, str, dict]]:
    v0 = {"agent_version": "agent-v0"}
    return [
        ("profiles:rerun", "operation_started", {"user_id": "ana", "time_zone": "UTC"}),
        ("profiles:manual", "operation_started", {"user_id": "ana"}),
        ("profiles:upgrade", "upgrade_profiles", {"user_id": "ana"}),
        ("profiles:downgrade", "downgrade_profiles", {"user_id": "ana"}),
        ("profiles:rerun", "operation_started", {"user_id": "ana", "time_zone": "UTC"}),
        (
            "profiles:review_upgrade",
            "upgrade_profiles",
            {"user_id": "ana", "confirm_stale": "1"},
        ),
        ("playbooks:rerun", "operation_started", v0 | {"time_zone": "UTC"}),
        ("playbooks:upgrade", "upgrade_user_playbooks", v0),
        ("playbooks:downgrade", "downgrade_user_playbooks", v0),
        ("playbooks:manual", "operation_started", v0),
        # Decisions on an agent playbook before aggregation replaces it.
        ("playbooks:agent_playbook_approve", "agent_playbook_approved", {}),
        ("playbooks:agent_playbook_reject", "agent_playbook_rejected", {}),
        ("playbooks:agent_playbook_edit", "agent_playbook_edited", {"content": "x"}),
        (
            "playbooks:aggregate",
            "operation_started",
            v0 | {"playbook_name": "default_playbook_extractor"},
        ),
        ("console:operation_cancel", "operation_cancel_requested", {}),
        ("console:operation_retry", "operation_started", {}),
    ]


def test_every_console_operation_is_audited_with_actor_address_and_time(knowledge):
    rita = user_with_role("rita", roles.ADMIN)
    client = Client(REMOTE_ADDR=ADDRESS)
    client.force_login(rita)
    agent = knowledge["agent"].pk
    pks = {
        "playbooks:agent_playbook_approve": agent,
        "playbooks:agent_playbook_reject": agent,
        "playbooks:agent_playbook_edit": agent,
        "console:operation_cancel": knowledge["running"].pk,
        "console:operation_retry": knowledge["failed"].pk,
    }

    for name, action, data in _console_actions():
        since = AuditEvent.objects.order_by("-id").values_list("id", flat=True)[0]
        url = reverse(name, args=[pks[name]] if name in pks else [])

        response = client.post(url, data)

        assert response.status_code in {200, 302}, (name, response.status_code)
        events = _assert_audited(rita, since, name)
        assert action in [event.action for event in events], (name, events)


def _api_actions(knowledge) -> list[tuple[str, str, dict]]:
    v0 = {"agent_version": "agent-v0"}
    return [
        ("rerun_profile_generation", "operation_started", {"user_id": "ana"}),
        ("manual_profile_generation", "operation_started", {"user_id": "ana"}),
        ("upgrade_all_profiles", "upgrade_profiles", {"user_id": "ana"}),
        ("downgrade_all_profiles", "downgrade_profiles", {"user_id": "ana"}),
        ("rerun_playbook_generation", "operation_started", v0),
        ("upgrade_all_user_playbooks", "upgrade_user_playbooks", v0),
        ("downgrade_all_user_playbooks", "downgrade_user_playbooks", v0),
        ("manual_playbook_generation", "operation_started", v0),
        (
            "update_agent_playbook_status",
            "agent_playbook_approved",
            {"agent_playbook_id": knowledge["agent"].pk, "playbook_status": "approved"},
        ),
        (
            "update_agent_playbook",
            "agent_playbook_edited",
            {"agent_playbook_id": knowledge["agent"].pk, "content": "x"},
        ),
        (
            "run_playbook_aggregation",
            "operation_started",
            v0 | {"playbook_name": "default_playbook_extractor"},
        ),
        (
            "cancel_operation",
            "operation_cancel_requested",
            {"operation_id": knowledge["running"].pk},
        ),
        (
            "retry_operation",
            "operation_started",
            {"operation_id": knowledge["failed"].pk},
        ),
    ]


def test_every_api_operation_is_audited_with_actor_address_and_time(knowledge):
    rita, key = issue_key("rita", roles.ADMIN)

    for name, action, body in _api_actions(knowledge):
        since = AuditEvent.objects.order_by("-id").values_list("id", flat=True)[0]

        response = Client().post(
            f"/api/{name}",
            json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
            REMOTE_ADDR=ADDRESS,
        )

        assert response.status_code == 200, (name, response.json())
        events = _assert_audited(rita, since, name)
        assert action in [event.action for event in events], (name, events)
