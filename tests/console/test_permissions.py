"""Every console URL needs a login, and each role may do exactly its part."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.converters import IntConverter

from playbooks.models import AgentPlaybook
from reflexio_admin import roles
from reflexio_admin.models import ApiKey
from tests.console.conftest import HTMX, add_fact
from tests.factories import user_with_role

# Served by others with their own rules: Django's admin and the JSON API.
NOT_CONSOLE = ("django-admin/", "api/")
OPEN = {"login", "logout"}


def _console_patterns(
    resolvers: list[URLResolver | URLPattern] | None = None,
    prefix: str = "",
    namespace: str = "",
) -> Iterator[tuple[str, URLPattern, str]]:
    """(route, pattern, view name) of every console URL, however deep."""
    for entry in resolvers if resolvers is not None else get_resolver().url_patterns:
        route = prefix + str(entry.pattern)
        if route.startswith(NOT_CONSOLE):
            continue
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _console_patterns(entry.url_patterns, route, inner)
        elif entry.name:
            yield route, entry, f"{namespace}{entry.name}"


def _dummy_url(pattern: URLPattern, name: str) -> str:
    converters = getattr(pattern.pattern, "converters", {})
    kwargs = {
        arg: 1 if isinstance(converter, IntConverter) else "someone"
        for arg, converter in converters.items()
    }
    return reverse(name, kwargs=kwargs)


CONSOLE_URLS = sorted(
    (name, _dummy_url(pattern, name))
    for _, pattern, name in _console_patterns()
    if name not in OPEN
)


def test_the_console_has_the_pages_of_the_design():
    names = {name for name, _ in CONSOLE_URLS}

    assert {
        "overview",
        "console:interaction_list",
        "console:operation_list",
        "console:operation_detail",
        "console:operation_progress",
        "console:settings",
        "console:audit_list",
        "profiles:profile_list",
        "profiles:user_detail",
        "profiles:review",
        "playbooks:user_playbook_list",
        "playbooks:agent_playbook_list",
        "playbooks:review",
    } <= names
    assert len(names) >= 40


@pytest.mark.parametrize(("name", "url"), CONSOLE_URLS)
def test_an_anonymous_request_is_sent_to_login(client, db, name, url):
    response = client.get(url)

    assert response.status_code == 302, name
    assert response["Location"].startswith(reverse(settings.LOGIN_URL) + "?next=")


@pytest.mark.parametrize(("name", "url"), CONSOLE_URLS)
def test_an_anonymous_post_is_sent_to_login(client, db, name, url):
    response = client.post(url)

    assert response.status_code == 302, name
    assert response["Location"].startswith(reverse(settings.LOGIN_URL))


@pytest.mark.parametrize(("name", "url"), CONSOLE_URLS)
def test_an_anonymous_htmx_request_redirects_the_whole_page(client, db, name, url):
    response = client.get(
        url, HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="http://testserver/profiles/"
    )

    assert response.status_code == 200, name
    assert response["HX-Redirect"] == "/login/?next=/profiles/"


def test_login_page_logs_in_and_goes_to_the_overview(client, db):
    user_with_role("vera", roles.VIEWER)

    response = client.post(
        reverse("login"), {"username": "vera", "password": "pw-vera"}
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("overview")
    assert client.get(reverse("overview")).status_code == 200


def test_logout_takes_a_post_and_ends_the_session(client, db):
    user = user_with_role("vera", roles.VIEWER)
    client.force_login(user)

    response = client.post(reverse("logout"))

    assert response.status_code == 302
    assert client.get(reverse("overview")).status_code == 302


def test_a_user_without_a_role_is_refused(client, db):
    client.force_login(user_with_role("nobody", None))

    response = client.get(reverse("overview"))

    assert response.status_code == 403
    assert b"not allowed" in response.content


# Who may do what. Each action is one request; the answer is allowed (any 2xx
# or a redirect that is not to the login page) or 403.


def _actions(user_id: str, agent_playbook: AgentPlaybook, key: ApiKey) -> dict:
    profile = add_fact(user_id, "Likes tea")
    return {
        "read the overview": ("get", reverse("overview"), {}),
        "read profiles": ("get", reverse("profiles:profile_list"), {}),
        "read the audit log": ("get", reverse("console:audit_list"), {}),
        "edit a fact": (
            "post",
            reverse("profiles:profile_edit", args=[profile.pk]),
            {"content": "Likes green tea"},
        ),
        "add a fact": (
            "post",
            reverse("profiles:profile_add", args=[user_id]),
            {
                "content": "Has a cat",
                "status": "current",
                "extractor_name": "default_profile_extractor",
                "time_to_live": "infinity",
            },
        ),
        "regenerate one user": (
            "post",
            reverse("profiles:manual"),
            {"user_id": user_id},
        ),
        "open the rerun form": ("get", reverse("profiles:rerun"), {}),
        "upgrade profiles": ("post", reverse("profiles:upgrade"), {"user_id": user_id}),
        "downgrade playbooks": ("post", reverse("playbooks:downgrade"), {}),
        "run aggregation": ("get", reverse("playbooks:aggregate"), {}),
        "approve an agent playbook": (
            "post",
            reverse("playbooks:agent_playbook_approve", args=[agent_playbook.pk]),
            {},
        ),
        "open settings": ("get", reverse("console:settings"), {}),
        "create an API key": ("get", reverse("console:apikey_create"), {}),
        "revoke an API key": (
            "post",
            reverse("console:apikey_revoke", args=[key.pk]),
            {},
        ),
    }


ALLOWED = {
    roles.VIEWER: {"read the overview", "read profiles", "read the audit log"},
    roles.SUPPORT: {
        "read the overview",
        "read profiles",
        "read the audit log",
        "edit a fact",
        "add a fact",
        "regenerate one user",
    },
}
ALLOWED[roles.REVIEWER] = ALLOWED[roles.SUPPORT] | {
    "open the rerun form",
    "upgrade profiles",
    "downgrade playbooks",
    "run aggregation",
    "approve an agent playbook",
}
ALLOWED[roles.ADMIN] = ALLOWED[roles.REVIEWER] | {
    "open settings",
    "create an API key",
    "revoke an API key",
}


@pytest.mark.parametrize("role", list(ALLOWED))
def test_each_role_may_do_exactly_its_part(db, chat, role):
    user = user_with_role(f"{role}-person", role)
    client = Client()
    client.force_login(user)
    agent_playbook = AgentPlaybook.objects.create(
        agent_version="agent-v0",
        playbook_name="default_playbook_extractor",
        content="x",
    )
    key, _ = ApiKey.issue(user=user, name="k")

    outcomes = {}
    for action, (method, url, data) in _actions("alice", agent_playbook, key).items():
        response = getattr(client, method)(url, data)
        location = response.get("Location", "")
        outcomes[action] = response.status_code != 403 and not location.startswith(
            reverse("login")
        )

    assert {action for action, allowed in outcomes.items() if allowed} == ALLOWED[role]


def test_support_regenerates_one_user_only(client_as, chat):
    support = client_as(roles.SUPPORT)

    response = support.post(reverse("profiles:manual"), {"user_id": ""}, **HTMX)

    assert response.status_code == 200
    assert "This field is required." in response.content.decode()


def test_reviewer_may_regenerate_everyone(client_as, chat):
    reviewer = client_as(roles.REVIEWER)

    response = reviewer.post(reverse("profiles:manual"), {"user_id": ""})

    assert response.status_code == 302
    assert "/operations/" in response["Location"]


def test_an_htmx_request_without_the_right_gets_403(client_as, chat):
    viewer = client_as(roles.VIEWER)

    response = viewer.post(reverse("profiles:manual"), {"user_id": "alice"}, **HTMX)

    assert response.status_code == 403


def test_a_missing_object_gets_the_404_page(client_as, db):
    response = client_as(roles.VIEWER).get(
        reverse("console:operation_detail", args=[999999])
    )

    assert response.status_code == 404
    assert "There is nothing at this address" in response.content.decode()
