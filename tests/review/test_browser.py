"""Reviewing one user item by item in headless Chromium against a live server."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from profiles.models import UserProfile
from reflexio_admin import roles
from reflexio_admin.models import AuditEvent
from reflexio_admin.status import Status
from tests.factories import conversation, user_with_role
from tests.review.builders import by_text, current_facts, pending_facts

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def in_browser(url: str, chromium_path: str, steps: Callable[[Page], None]) -> None:
    """Log in as rita and run `steps` in headless Chromium, in its own thread.

    Playwright's sync API runs an event loop in the thread that drives it;
    kept off the test's thread, Django's database connections there stay as
    they are (and the serialized rollback of transactional tests with them).
    Browser errors and failed expectations are raised here.
    """
    failures: list[BaseException] = []

    def drive() -> None:
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True
                )
                context = browser.new_context(base_url=url, locale="en-GB")
                page = context.new_page()
                page.set_default_timeout(15_000)
                errors: list[str] = []
                page.on(
                    "console",
                    lambda m: errors.append(m.text) if m.type == "error" else None,
                )
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                page.goto("/login/")
                page.fill("#id_username", "rita")
                page.fill("#id_password", "pw-rita")
                page.click("button[type=submit]")
                expect(page.locator("h1")).to_have_text("Overview")
                steps(page)
                browser.close()
                assert errors == [], f"browser errors: {errors}"
        except BaseException as exc:  # re-raised in the test's thread below
            failures.append(exc)

    thread = threading.Thread(target=drive)
    thread.start()
    thread.join(timeout=120)
    assert not thread.is_alive(), "the browser steps did not finish in time"
    if failures:
        raise failures[0]


@pytest.fixture
def browse(live_server, chromium_path, settings) -> Callable[..., None]:
    settings.QUEUE_BACKEND = "sync"
    user_with_role("rita", roles.REVIEWER)
    return lambda steps: in_browser(live_server.url, chromium_path, steps)


def row(page: Page, text: str):
    return page.locator("tr.review-row", has_text=text)


def test_a_reviewer_accepts_one_item_rejects_another_and_sees_the_result(browse):
    conversation("ana", ["I live in Munich now.", "I like <b>bold</b> tea."])
    current_facts("ana", ["Works night shifts", "Lives in Berlin", "Has a dog"])
    pending_facts(
        "ana", ["Works night shifts", "Lives in Munich", "Likes <b>bold</b> tea"]
    )
    pending = by_text("ana", Status.PENDING)

    def steps(page: Page) -> None:
        page.goto("/profiles/review/")
        page.locator(".review-index a.btn", has_text="Review").click()
        expect(page.locator("h1")).to_contain_text("Review profiles of ana")
        counts = page.locator("#review-counts")
        expect(counts).to_contain_text("1 reworded")
        expect(counts).to_contain_text("1 added")
        expect(counts).to_contain_text("1 removed")
        munich = row(page, "Lives in Munich")
        expect(munich.locator(".review-badge")).to_have_text("reworded")
        expect(munich.locator(".review-diff del")).to_have_text("Berlin")
        expect(munich.locator(".review-diff ins")).to_have_text("Munich")
        tea = row(page, "Likes <b>bold</b> tea")
        expect(tea.locator(".review-badge")).to_have_text("added")

        munich.locator("input[value=accept]").check()
        tea.locator("input[value=reject]").check()
        expect(page.locator("[data-review-chosen]")).to_have_text("2 decisions chosen")
        page.click("#apply-decisions")

        expect(page.locator(".message-success")).to_contain_text(
            "Decisions applied: 1 accepted, 1 rejected, 1 current item(s) archived"
        )
        result = page.locator("#review-result")
        expect(result.locator("li", has_text="Lives in Munich")).to_contain_text(
            "current"
        )
        expect(result.locator("li", has_text="bold")).to_contain_text("discarded")
        # Left to decide: the dropped dog. The accepted fact now stands on
        # both sides, so it shows as unchanged.
        expect(counts).to_contain_text("0 reworded")
        expect(counts).to_contain_text("1 removed")

    browse(steps)

    munich = UserProfile.objects.get(pk=pending["Lives in Munich"].pk)
    assert munich.status == Status.CURRENT
    assert UserProfile.objects.get(content="Lives in Berlin").status == Status.ARCHIVED
    assert not UserProfile.objects.filter(
        pk=pending["Likes <b>bold</b> tea"].pk
    ).exists()
    assert AuditEvent.objects.get(action="review_profiles").actor_name == "rita"


def test_the_rerun_form_shows_what_the_rerun_will_cost_before_it_starts(browse):
    conversation("ana", ["I work night shifts.", "Thanks."])
    conversation("ben", ["I live in Paris."])

    def steps(page: Page) -> None:
        page.goto("/profiles/rerun/")
        cost = page.locator("#rerun-cost")
        expect(cost).to_contain_text("3 interactions of 2 users in 2 windows")
        expect(cost).to_contain_text("offline-heuristics")

        page.fill("#id_user_id", "ana")
        page.press("#id_user_id", "Tab")

        expect(cost).to_contain_text("2 interactions of 1 user in 1 window")

    browse(steps)
