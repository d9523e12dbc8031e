"""Security headers on every page, production settings, and CSP in a real browser.

Django's own Content-Security-Policy middleware sets a nonce-based policy on
every console page; frames are denied; in production (DEBUG=0 with the
SECURE_* variables the README gives) plain http is redirected, HSTS is sent
and cookies are Secure and HttpOnly; `manage.py check --deploy` is clean. A
headless Chromium loads the main pages and drives htmx controls under the
policy without a single violation or console error.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.db import connections
from django.test import Client
from django.urls import reverse

from profiles import services as profile_services
from tests.factories import conversation
from tests.urlwalk import console_routes
from tests.workers import database_url

ROOT = Path(__file__).resolve().parents[2]
NONCE = re.compile(r"'nonce-([A-Za-z0-9_\-+/=]+)'")
PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECURE_SSL_REDIRECT": "1",
    "SECURE_COOKIES": "1",
    "SECURE_HSTS_SECONDS": "31536000",
    "ALLOWED_HOSTS": "example.com",
}


def production_env() -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SECURE_", "DJANGO_SETTINGS_MODULE"))
    }
    env.update(PRODUCTION_ENV)
    env.update(
        SECRET_KEY=secrets.token_urlsafe(50),
        DATABASE_URL=database_url(),
        DJANGO_SETTINGS_MODULE="reflexio_admin.settings",
        QUEUE_BACKEND="embedded",
        REDIS_URL="",
    )
    return env


# Every page


@pytest.fixture
def admin_client(db) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", password="x"))
    return client


def _pages(client: Client) -> list[tuple[str, str]]:
    """(name, url) of every console page that answers a GET with a page."""
    fact = profile_services.profile_add(user_id="ana", content="Lives in Berlin")
    conversation("ana", ["I live in Berlin."])
    values = {"pk": fact.pk, "user_id": "ana"}
    found = []
    for route in console_routes():
        if route.name == "logout":
            continue
        url = route.url(values)
        if client.get(url).status_code == 200:
            found.append((route.name, url))
    return found


def test_every_console_page_carries_the_policy_with_a_nonce_and_denies_frames(
    admin_client,
):
    pages = _pages(admin_client) + [("login", reverse("login"))]
    assert len(pages) >= 30
    whole = 0

    for name, url in pages:
        client = Client() if name == "login" else admin_client
        response = client.get(url)

        policy = response["Content-Security-Policy"]
        assert "default-src 'self'" in policy, name
        assert "frame-ancestors 'none'" in policy, name
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, name
        html = response.content.decode()
        if "<html" in html:
            # A whole page: its scripts carry the nonce of this response.
            # (Fragments such as the rerun cost have no scripts of their own.)
            nonce = NONCE.search(policy)
            assert nonce, f"{name}: no nonce in {policy}"
            assert f'nonce="{nonce.group(1)}"' in html, name
            whole += 1
        assert response["X-Frame-Options"] == "DENY", name
        assert response["X-Content-Type-Options"] == "nosniff", name
        assert response["Referrer-Policy"] == "same-origin", name
    assert whole >= 25


def test_each_response_gets_a_fresh_nonce(admin_client):
    first = admin_client.get(reverse("overview"))["Content-Security-Policy"]
    second = admin_client.get(reverse("overview"))["Content-Security-Policy"]

    assert NONCE.search(first).group(1) != NONCE.search(second).group(1)


# Production settings


def production_settings() -> dict:
    """The security settings the project computes from the production env."""
    script = (
        "import json; from django.conf import settings as s; import django;"
        "django.setup(); print(json.dumps({k: getattr(s, k) for k in ["
        "'DEBUG', 'SECURE_SSL_REDIRECT', 'SESSION_COOKIE_SECURE',"
        "'CSRF_COOKIE_SECURE', 'SESSION_COOKIE_HTTPONLY', 'SECURE_HSTS_SECONDS',"
        "'SECURE_HSTS_INCLUDE_SUBDOMAINS', 'SECURE_HSTS_PRELOAD',"
        "'X_FRAME_OPTIONS', 'SECURE_PROXY_SSL_HEADER']}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_settings_turn_on_https_hsts_and_secure_cookies():
    values = production_settings()

    assert values["DEBUG"] is False
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True
    assert values["SESSION_COOKIE_HTTPONLY"] is True
    assert values["SECURE_HSTS_SECONDS"] == 31536000
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert values["X_FRAME_OPTIONS"] == "DENY"


@pytest.fixture
def production(settings):
    """This process's settings as production computes them."""
    for key, value in production_settings().items():
        setattr(settings, key, tuple(value) if isinstance(value, list) else value)
    settings.ALLOWED_HOSTS = ["example.com"]
    return settings


@pytest.mark.django_db
def test_in_production_http_goes_to_https_and_https_gets_hsts(production):
    client = Client(HTTP_HOST="example.com")

    plain = client.get("/login/")
    secure = client.get("/login/", secure=True)

    assert plain.status_code == 301
    assert plain["Location"] == "https://example.com/login/"
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"] == (
        "max-age=31536000; includeSubDomains; preload"
    )
    assert secure["X-Frame-Options"] == "DENY"
    assert "Content-Security-Policy" in secure


@pytest.mark.django_db
def test_in_production_the_session_and_csrf_cookies_are_secure(production):
    User.objects.create_user("vera", password="a good long password")
    client = Client(HTTP_HOST="example.com")
    client.get("/login/", secure=True)

    response = client.post(
        "/login/",
        {"username": "vera", "password": "a good long password"},
        secure=True,
    )

    assert response.status_code == 302
    session, csrf = response.cookies["sessionid"], client.cookies["csrftoken"]
    assert session["secure"] and session["httponly"]
    assert session["samesite"] == "Lax"
    assert csrf["secure"]


@pytest.mark.django_db
def test_behind_a_tls_proxy_the_forwarded_scheme_counts_as_https(production):
    response = Client(HTTP_HOST="example.com").get(
        "/login/", HTTP_X_FORWARDED_PROTO="https"
    )

    assert response.status_code == 200
    assert "Strict-Transport-Security" in response


@pytest.mark.django_db
def test_manage_check_deploy_passes_with_production_settings():
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "check",
            "--deploy",
            "--fail-level",
            "WARNING",
        ],
        cwd=ROOT,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


# In a browser

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Collects the policy's violations from the moment a page starts.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(
    `${event.violatedDirective} blocked ${event.blockedURI || "inline"}`
  );
});
"""
MAIN_PAGES = [
    "/",
    "/interactions/",
    "/profiles/",
    "/profiles/?status=pending",
    "/profiles/users/ana/",
    "/profiles/review/",
    "/profiles/review/?user_id=ana",
    "/profiles/rerun/",
    "/playbooks/",
    "/playbooks/agent/",
    "/playbooks/review/",
    "/operations/",
    "/settings/",
    "/audit/",
]


@pytest.fixture
def browser(chromium_path, transactional_db) -> Iterator:
    """Chromium, with Django allowed to use its database from Playwright's loop."""
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True
            )
            yield browser
            browser.close()
            connections.close_all()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_console_runs_under_its_policy_without_violations(browser, live_server):
    from playwright.sync_api import expect

    User.objects.create_superuser("root", password="a good long password")
    fact = profile_services.profile_add(user_id="ana", content="Lives in Berlin")
    profile_services.profile_add(user_id="ana", content="Has a dog", status="pending")
    conversation("ana", ["I live in Berlin."])
    context = browser.new_context(base_url=live_server.url)
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    violations: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    page.goto("/login/")
    page.fill("#id_username", "root")
    page.fill("#id_password", "a good long password")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Overview")
    for path in MAIN_PAGES:
        page.goto(path)
        page.wait_for_load_state("networkidle")
        violations += page.evaluate("window.__cspViolations")

    # htmx under the policy: a status tab swaps the list in place, and the
    # edit control loads a form and posts it with the CSRF header.
    page.goto("/profiles/")
    page.get_by_role("tab", name=re.compile("Pending")).click()
    expect(page.locator("main")).to_contain_text("Has a dog")
    page.goto("/profiles/users/ana/")
    page.locator(f"#profile-{fact.pk} a:has-text('Edit')").click()
    page.locator(f"#profile-{fact.pk} textarea[name=content]").fill("Lives in Munich")
    page.locator(f"#profile-{fact.pk} button[type=submit]").click()
    expect(page.locator(f"#profile-{fact.pk}")).to_contain_text("Lives in Munich")
    violations += page.evaluate("window.__cspViolations")
    context.close()

    fact.refresh_from_db()
    assert fact.content == "Lives in Munich"
    assert violations == []
    assert errors == []
