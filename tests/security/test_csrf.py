"""CSRF on every state-changing console request; API keys as the API's only door.

The console's POSTs, htmx included, need the CSRF token (htmx sends it as
X-CSRFToken from <body hx-headers>). The API is exempt from CSRF because it
never reads the session: a Bearer key is the only way in. Keys are stored as
hashes only, and a revoked key stops working on the very next request.
"""

import re

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from reflexio_admin.models import ApiKey, AuditEvent
from tests.bad_input.strategies import stored_models
from tests.urlwalk import api_routes, console_routes

pytestmark = pytest.mark.django_db

# Logging out is the one POST that must work for anyone; it still needs CSRF.
CONSOLE = console_routes()
HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_CURRENT_URL": "http://testserver/"}


@pytest.fixture
def admin() -> User:
    return User.objects.create_superuser("root", password="x")


@pytest.fixture
def strict(admin) -> Client:
    """A logged-in browser whose POSTs are checked for CSRF, as in production."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    return client


@pytest.mark.parametrize("route", CONSOLE, ids=lambda route: route.name)
def test_a_console_post_without_the_csrf_token_is_refused(strict, route):
    url = route.url()

    plain = strict.post(url, {"user_id": "ana", "content": "x"})
    htmx = strict.post(url, {"user_id": "ana", "content": "x"}, **HTMX)
    forged = strict.post(url, {"csrfmiddlewaretoken": "x" * 64}, **HTMX)

    assert (plain.status_code, htmx.status_code, forged.status_code) == (
        403,
        403,
        403,
    )
    assert b"CSRF" in plain.content


def test_refused_csrf_posts_change_nothing(strict):
    for route in CONSOLE:
        strict.post(route.url(), {"user_id": "ana", "content": "x"}, **HTMX)

    assert not AuditEvent.objects.exclude(action="login").exists()


def test_an_htmx_post_with_the_token_from_the_page_goes_through(strict):
    page = strict.get(reverse("profiles:user_detail", args=["ana"])).content.decode()
    token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)

    response = strict.post(
        reverse("profiles:profile_add", args=["ana"]),
        {
            "content": "Has a cat",
            "status": "current",
            "extractor_name": "default_profile_extractor",
            "time_to_live": "infinity",
        },
        HTTP_X_CSRFTOKEN=token,
        **HTMX,
    )

    assert response.status_code == 200
    assert "Has a cat" in response.content.decode()


def test_logging_in_needs_the_csrf_token_too():
    User.objects.create_user("vera", password="a good long password")

    response = Client(enforce_csrf_checks=True).post(
        reverse("login"), {"username": "vera", "password": "a good long password"}
    )

    assert response.status_code == 403


# The API: Bearer keys only.


@pytest.mark.parametrize("route", api_routes(), ids=lambda route: route.name)
def test_the_api_ignores_a_logged_in_session(strict, route):
    for method in route.callback.api_methods:
        response = strict.generic(method, route.url(), "{}", "application/json")

        assert response.status_code == 401, (route.name, method)


def _every_stored_text() -> str:
    """Every row of every table of the product, as text."""
    quote = connection.ops.quote_name
    texts = []
    with connection.cursor() as cursor:
        for model in stored_models():
            cursor.execute(f"SELECT t::text FROM {quote(model._meta.db_table)} t")
            texts.extend(row[0] for row in cursor.fetchall())
    return "\n".join(texts)


def test_api_keys_are_never_stored_in_clear(strict, admin, capsys, caplog):
    page = strict.get(reverse("console:apikey_create")).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    created = strict.post(
        reverse("console:apikey_create"),
        {"csrfmiddlewaretoken": token, "user": admin.pk, "name": "ci"},
    ).content.decode()
    from_console = re.search(r"rfx_[A-Za-z0-9_-]{20,}", created).group(0)
    call_command("create_api_key", "root", "--name", "script")
    from_command = re.search(r"rfx_[A-Za-z0-9_-]{20,}", capsys.readouterr().out)
    _, from_code = ApiKey.issue(user=admin, name="code")

    stored = _every_stored_text()

    for raw in (from_console, from_command.group(0), from_code):
        assert raw not in stored
        assert raw[4:] not in stored
        assert raw not in caplog.text
    assert ApiKey.objects.count() == 3


def test_a_key_revoked_in_the_console_fails_on_the_very_next_request(strict, admin):
    key, raw = ApiKey.issue(user=admin, name="ci")
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    api = Client()
    assert api.get("/api/whoami", **bearer).status_code == 200
    page = strict.get(reverse("console:settings")).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)

    strict.post(
        reverse("console:apikey_revoke", args=[key.pk]), {"csrfmiddlewaretoken": token}
    )
    response = api.get("/api/whoami", **bearer)

    assert response.status_code == 401
    assert "revoked" in response.json()["msg"]
    assert AuditEvent.objects.filter(action="api_key_revoked", actor=admin).exists()
