import pytest

from reflexio_admin.llm import reset_provider
from tests.api import ApiClient, issue_key


@pytest.fixture(autouse=True)
def inline_jobs(settings):
    """Run operations inline, with the offline LLM (and cheap password hashes)."""
    settings.QUEUE_BACKEND = "sync"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.OPENAI_API_KEY = ""
    reset_provider()
    yield
    reset_provider()


@pytest.fixture
def make_api(client):
    """Build an API client for a new user with the given role."""

    def make(
        username: str = "rita", role: str | None = "reviewer", superuser: bool = False
    ) -> ApiClient:
        _, raw = issue_key(username, role, superuser=superuser)
        return ApiClient(client, raw)

    return make


@pytest.fixture
def api(db, make_api):
    """A reviewer's key: may read, publish, edit, operate and review."""
    return make_api("rita", "reviewer")
