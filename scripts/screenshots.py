"""Take screenshots of the console's main pages for docs/ and the README.

    .venv/bin/python scripts/screenshots.py                 # own demo server
    .venv/bin/python scripts/screenshots.py --base-url http://127.0.0.1:8000 \
        --username demo --password ...                      # a running server

Without --base-url it migrates a throw-away SQLite database, loads the demo
data (`manage.py seed_demo`) and serves it on a free port for the duration.
Chromium is Debian's (CHROMIUM_PATH, default /usr/bin/chromium). Browser
console errors, such as CSP violations, are printed and fail the run.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

logger = logging.getLogger("screenshots")

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DEMO_PASSWORD = "demo-screenshots-1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"The server at {url} did not answer within {timeout:.0f} s")


@contextmanager
def demo_server() -> Iterator[str]:
    """Serve the demo data from a throw-away SQLite database."""
    with tempfile.TemporaryDirectory(prefix="reflexio-shots-") as var_dir:
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"DATABASE_URL", "REDIS_URL", "QUEUE_BACKEND"}
        }
        env.update(REFLEXIO_VAR_DIR=var_dir, DEBUG="1", LOG_LEVEL="WARNING")
        manage = [sys.executable, "manage.py"]
        subprocess.run([*manage, "migrate", "--noinput"], cwd=ROOT, env=env, check=True)
        subprocess.run(
            [*manage, "seed_demo", "--password", DEMO_PASSWORD],
            cwd=ROOT,
            env=env,
            check=True,
        )
        port = _free_port()
        server = subprocess.Popen(
            [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            _wait_for(f"{base_url}/login/")
            yield base_url
        finally:
            server.terminate()
            server.wait(timeout=10)


def _shot(page: Page, out: Path, name: str) -> None:
    page.wait_for_load_state("networkidle")
    path = out / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    logger.info(
        "Saved %s", path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    )


def take(base_url: str, username: str, password: str, out: Path) -> list[str]:
    """Visit the main pages and save one PNG each; return browser errors."""
    out.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"),
            args=CHROMIUM_ARGS,
            headless=True,
        )
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.on(
            "console",
            lambda msg: (
                errors.append(f"{page.url}: {msg.text}")
                if msg.type == "error"
                else None
            ),
        )

        page.goto(f"{base_url}/login/")
        _shot(page, out, "login")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base_url}/")
        _shot(page, out, "overview")

        for name, path in [
            ("interactions", "/interactions/"),
            ("profiles", "/profiles/?status=pending"),
            ("review-index", "/profiles/review/"),
            ("user-playbooks", "/playbooks/"),
            ("agent-playbooks", "/playbooks/agent/"),
            ("playbook-review", "/playbooks/review/"),
            ("rerun-form", "/profiles/rerun/"),
            ("operations", "/operations/"),
            ("settings", "/settings/"),
            ("audit-log", "/audit/"),
        ]:
            page.goto(base_url + path)
            _shot(page, out, name)

        # A user with pending profiles: their review and their page.
        page.goto(f"{base_url}/profiles/review/")
        review_link = page.locator("table.list a.btn").first
        if review_link.count():
            review_link.click()
            page.wait_for_load_state("networkidle")
            _shot(page, out, "review")
            match = re.search(r"user_id=([^&]+)", page.url)
            if match:
                page.goto(f"{base_url}/profiles/users/{match.group(1)}/")
                _shot(page, out, "user-page")
                upgrade = page.locator("#upgrade-user")
                if upgrade.count():
                    upgrade.click()
                    page.locator("#confirm-panel").wait_for()
                    _shot(page, out, "upgrade-confirmation")

                # A rerun for that user, started from the form: its progress bar.
                page.goto(f"{base_url}/profiles/rerun/?user_id={match.group(1)}")
                page.wait_for_load_state("networkidle")
                page.click("button:has-text('Start rerun')")
                page.locator("section.progress[data-status=completed]").wait_for()
                _shot(page, out, "rerun-progress")

        # The newest aggregation: clusters and where each agent playbook came from.
        page.goto(f"{base_url}/operations/?kind=run_playbook_aggregation")
        first = page.locator("table.list tbody a").first
        if first.count():
            first.click()
            page.wait_for_load_state("networkidle")
            page.locator("#cluster-1").scroll_into_view_if_needed()
            _shot(page, out, "aggregation-result")

        browser.close()
    return errors


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", help="A running console; default: start one.")
    parser.add_argument("--username", default="demo")
    parser.add_argument("--password", default=DEMO_PASSWORD)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()

    if args.base_url:
        errors = take(args.base_url.rstrip("/"), args.username, args.password, args.out)
    else:
        with demo_server() as base_url:
            errors = take(base_url, args.username, args.password, args.out)
    for error in errors:
        logger.error("Browser error: %s", error)
    if errors:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
