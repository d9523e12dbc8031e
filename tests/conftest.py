"""Fixtures shared by the whole test suite."""

import os
from pathlib import Path

import pytest


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Path of Debian's Chromium, for Playwright's ``executable_path``.

    Taken from CHROMIUM_PATH (default /usr/bin/chromium). When it is missing the
    test is skipped on a developer machine (run scripts/ensure_chromium.sh), but
    fails in CI, where a skipped browser test would hide a broken setup.
    """
    path = os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium"
    if Path(path).is_file() and os.access(path, os.X_OK):
        return path
    reason = (
        f"Chromium not found at {path} (set CHROMIUM_PATH, or run "
        "scripts/ensure_chromium.sh to install Debian's chromium)"
    )
    if _in_ci():
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _empty_cache():
    from django.core.cache import cache

    from reflexio_admin.llm import use_model_names

    cache.clear()
    yield
    # Model names saved in Settings by one test must not leak into the next.
    use_model_names("", "")
