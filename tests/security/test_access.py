"""No one gets in anonymously, whatever the URL or the method.

Every named URL of the project is walked (tests/urlwalk.py), so a page or an
endpoint added later is covered without touching this file. The console sends
an anonymous visitor to the login page (an htmx request gets HX-Redirect, so
the whole page goes there); the API answers 401 in JSON.
"""

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from reflexio_admin.models import AuditEvent
from tests.urlwalk import all_routes, api_routes, console_routes

pytestmark = pytest.mark.django_db

# The two doors themselves.
OPEN = {"login", "logout"}
CONSOLE = [route for route in console_routes() if route.name not in OPEN]
API = api_routes()
METHODS = ["GET", "POST", "PUT", "DELETE"]


def test_the_walk_covers_the_console_and_the_api():
    names = {route.name for route in all_routes()}

    assert len(CONSOLE) >= 40
    assert len(API) >= 30
    assert {"overview", "profiles:review_decide", "api:publish_interaction"} <= names


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("route", CONSOLE, ids=lambda route: route.name)
def test_an_anonymous_console_request_goes_to_login(route, method):
    url = route.url()

    response = Client().generic(method, url)

    assert response.status_code == 302, (route.name, method)
    assert response["Location"].startswith(reverse(settings.LOGIN_URL) + "?next=")


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("route", CONSOLE, ids=lambda route: route.name)
def test_an_anonymous_htmx_request_makes_the_page_go_to_login(route, method):
    response = Client().generic(
        method,
        route.url(),
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="http://testserver/operations/",
    )

    assert response.status_code == 200, route.name
    assert response["HX-Redirect"] == "/login/?next=/operations/"


@pytest.mark.parametrize("route", API, ids=lambda route: route.name)
def test_an_anonymous_api_call_is_a_401_in_json(route):
    for method in route.callback.api_methods:
        response = Client().generic(method, route.url(), "{}", "application/json")

        assert response.status_code == 401, (route.name, method)
        assert response.json()["success"] is False
        assert "Authorization: Bearer" in response.json()["msg"]
        assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("route", API, ids=lambda route: route.name)
def test_an_api_call_with_a_made_up_key_is_a_401(route):
    method = route.callback.api_methods[0]

    response = Client().generic(
        method, route.url(), "{}", "application/json", HTTP_AUTHORIZATION="Bearer x"
    )

    assert response.status_code == 401
    assert response.json()["msg"] == "Invalid API key."


def test_the_login_page_is_the_one_page_open_to_everyone():
    response = Client().get(reverse("login"))

    assert response.status_code == 200
    assert b'name="password"' in response.content


def test_refused_anonymous_requests_write_nothing():
    for route in CONSOLE:
        Client().post(route.url(), {"user_id": "ana"})
    for route in API:
        Client().post(route.url(), "{}", "application/json")

    assert not AuditEvent.objects.exclude(action__startswith="login").exists()


def test_djangos_admin_sends_anonymous_visitors_to_its_own_login():
    response = Client().get("/django-admin/")

    assert response.status_code == 302
    assert response["Location"].startswith("/django-admin/login/")
