"""The console in headless Chromium against a live server and a real rq worker.

Each test logs in, starts an operation from its form, watches the progress bar
until the worker finishes, then reviews and applies the result in the browser.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import django_rq
import pytest
from django.db import connections
from playwright.sync_api import Browser, Page, expect, sync_playwright

from profiles.models import UserProfile
from reflexio_admin import roles
from reflexio_admin.status import Status
from tests.console.conftest import add_fact
from tests.factories import REFUND_CORRECTION, conversation, user_with_role
from tests.workers import start_worker, stop_worker

pytestmark = [
    pytest.mark.browser,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

BROWSER_REDIS_URL = "redis://127.0.0.1:6379/14"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Long enough for a worker to pick up the job and for the next poll (1 s).
FINISH_TIMEOUT_MS = 60_000


@pytest.fixture
def browser(chromium_path, transactional_db) -> Iterator[Browser]:
    """Chromium, started after the test database is ready.

    Playwright's sync API keeps an event loop running in this thread. Django
    then keeps its connections per asyncio context, so the database must be
    restored (serialized rollback) before the loop starts; and it refuses
    sync database calls, which are safe here, so allow them meanwhile.
    """
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True
            )
            yield browser
            browser.close()
            # Close what the test opened while the loop ran, so that the test
            # database can be dropped at the end.
            connections.close_all()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def worker(settings):
    """Operations go through Redis (db 14) to a real `rqworker` process."""
    settings.QUEUE_BACKEND = "rq"
    settings.RQ_QUEUES = {"default": {"URL": BROWSER_REDIS_URL}}
    django_rq.get_queue("default").connection.flushdb()
    process = start_worker()
    yield process
    stop_worker(process)
    django_rq.get_queue("default").connection.flushdb()


@pytest.fixture
def page(browser, live_server, worker) -> Iterator[Page]:
    """A reviewer logged in, in Berlin time; fails on any browser error."""
    user_with_role("rita", roles.REVIEWER)
    context = browser.new_context(
        base_url=live_server.url, timezone_id="Europe/Berlin", locale="en-GB"
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: dialog.accept())

    page.goto("/login/")
    page.fill("#id_username", "rita")
    page.fill("#id_password", "pw-rita")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Overview")
    yield page
    context.close()
    assert errors == [], f"browser errors: {errors}"


def _submit(page: Page, label: str) -> None:
    """Leave the field (the form may refresh parts of itself), then submit."""
    page.keyboard.press("Tab")
    page.wait_for_load_state("networkidle")
    page.click(f"button:has-text('{label}')")


def _wait_until_finished(page: Page) -> None:
    """The progress bar polls until the run ends, then shows it completed."""
    progress = page.locator("section.progress")
    expect(progress).to_be_visible()
    expect(progress).to_have_attribute(
        "data-status", "completed", timeout=FINISH_TIMEOUT_MS
    )
    expect(progress.locator("progress")).to_have_attribute("value", "100.0")
    expect(progress).not_to_have_attribute("hx-trigger", re.compile(".*"))


def _profiles_of(page: Page, user_id: str, status: str):
    return page.locator(f"#{status}-profiles .item")


def test_a_rerun_for_one_user_is_reviewed_and_upgraded(page):
    conversation("alice", ["I work night shifts.", "I prefer metric units."])
    add_fact("alice", "Works day shifts")

    page.goto("/profiles/rerun/")
    expect(page.locator("[data-tz-label]")).to_have_text("Europe/Berlin")
    page.fill("#id_user_id", "alice")
    _submit(page, "Start rerun")
    _wait_until_finished(page)
    pending = UserProfile.objects.filter(user_id="alice", status=Status.PENDING)
    new_facts = sorted(pending.values_list("content", flat=True))
    assert new_facts

    page.click("text=Review pending")
    expect(page.locator("h1")).to_contain_text("alice")
    expect(page.locator("main")).to_contain_text(new_facts[0])
    page.get_by_role("button", name=re.compile(r"^Upgrade")).first.click()
    expect(page.locator(".message-success")).to_contain_text("Upgraded")

    page.goto("/profiles/users/alice/")
    expect(_profiles_of(page, "alice", "pending")).to_have_count(0)
    expect(_profiles_of(page, "alice", "current")).to_have_count(len(new_facts))
    expect(_profiles_of(page, "alice", "archived")).to_have_count(1)
    statuses = set(
        UserProfile.objects.filter(user_id="alice").values_list("status", flat=True)
    )
    assert statuses == {Status.CURRENT, Status.ARCHIVED}


def test_an_upgrade_confirms_the_exact_counts_first(page):
    add_fact("alice", "Works day shifts")
    for fact in ("Works night shifts", "Prefers metric units"):
        add_fact("alice", fact, "pending")

    page.goto("/profiles/users/alice/")
    page.click("#upgrade-user")
    confirm = page.locator("#confirm-panel")
    expect(confirm).to_contain_text("user_id = alice")
    expect(confirm).to_contain_text(
        "1 user: 2 pending become current, 1 current are archived, "
        "0 archived are deleted"
    )
    confirm.locator("button[type=submit]").click()

    expect(page.locator(".message-success")).to_contain_text(
        "Upgraded 1 user(s): 2 pending became current, 1 current were archived"
    )
    expect(page).to_have_url(re.compile(r"/profiles/users/alice/$"))
    expect(_profiles_of(page, "alice", "pending")).to_have_count(0)
    expect(_profiles_of(page, "alice", "current")).to_have_count(2)
    expect(page.locator("#current-profiles")).to_contain_text("Works night shifts")


def test_a_playbook_rerun_is_reviewed_and_upgraded(page):
    for user_id in ("ana", "ben"):
        conversation(user_id, REFUND_CORRECTION, agent_version="agent-v0")

    page.goto("/playbooks/rerun/")
    page.fill("#id_agent_version", "agent-v0")
    _submit(page, "Start rerun")
    _wait_until_finished(page)

    page.click("text=Review pending")
    expect(page.locator("h1")).to_contain_text("agent-v0")
    page.get_by_role("button", name=re.compile(r"^Upgrade")).first.click()
    expect(page.locator(".message-success")).to_contain_text("Upgraded")

    page.goto("/playbooks/?status=current&agent_version=agent-v0")
    expect(page.locator("#playbook-results tbody tr")).to_have_count(2)
    page.goto("/playbooks/?status=pending&agent_version=agent-v0")
    expect(page.locator("#playbook-results tbody")).to_contain_text(
        "No pending user playbooks"
    )


def test_an_aggregation_is_run_and_its_proposal_approved(page):
    for user_id in ("ana", "ben", "cat"):
        conversation(user_id, REFUND_CORRECTION, agent_version="agent-v0")
    page.goto("/playbooks/manual/")
    page.fill("#id_agent_version", "agent-v0")
    _submit(page, "Generate now")
    _wait_until_finished(page)

    page.goto("/playbooks/agent/")
    page.click("text=Run aggregation…")
    page.fill("#id_agent_version", "agent-v0")
    page.select_option("#id_playbook_name", "default_playbook_extractor")
    _submit(page, "Show what it would do")
    expect(page.locator(".preview-summary")).to_contain_text(
        "3 current user playbooks of agent-v0 / default_playbook_extractor"
    )
    _submit(page, "Run aggregation")
    _wait_until_finished(page)

    page.click("section.progress >> text=Agent playbooks")
    card = page.locator("article.item").first
    expect(card).to_have_attribute("data-approval", "pending")
    card.locator("summary").click()
    expect(card.locator(".sources li")).to_have_count(3)
    card.locator("text=Approve").click()

    expect(card).to_have_attribute("data-approval", "approved")
    expect(card).to_contain_text("approved by rita")
    expect(page.locator(".message-success")).to_contain_text("is approved")
    page.click("text=Approved")
    expect(page.locator("article.item")).to_have_count(1)

    # The agent version filter suggests the known versions once focused.
    address = page.url
    page.focus("#id_agent_version")
    expect(page.locator("#agent-versions option[value='agent-v0']")).to_have_count(1)
    assert page.url == address


def test_a_support_edit_happens_in_place(page):
    fact = add_fact("alice", "Lives in Paris")

    page.goto("/profiles/users/alice/")
    item = page.locator(f"#profile-{fact.pk}")
    item.locator("text=Edit").click()
    item.locator("textarea[name=content]").fill("Lives in Lyon")
    item.locator("text=Save").click()

    expect(page.locator(f"#profile-{fact.pk} .item-body")).to_have_text("Lives in Lyon")
    page.goto("/audit/?action=profile_updated")
    expect(page.locator("#audit-results tbody")).to_contain_text("Lives in Paris")
    expect(page.locator("#audit-results tbody")).to_contain_text("Lives in Lyon")


def test_filters_survive_a_reload(page):
    add_fact("alice", "Lives in Paris")
    add_fact("bob", "Lives in Rome")

    page.goto("/profiles/")
    page.fill("#id_user_id", "bob")
    page.click("#profile-results button[type=submit]")
    expect(page.locator("#profile-results tbody")).not_to_contain_text("Paris")
    expect(page).to_have_url(re.compile(r"user_id=bob"))
    page.reload()

    expect(page.locator("#id_user_id")).to_have_value("bob")
    expect(page.locator("#profile-results tbody")).to_contain_text("Rome")
    expect(page.locator("#profile-results tbody")).not_to_contain_text("Paris")
