"""Users of each role, logged-in clients and a little knowledge to look at."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from playbooks import services as playbook_services
from profiles import services as profile_services
from profiles.models import UserProfile
from reflexio_admin import roles
from reflexio_admin.llm import reset_provider
from tests.factories import REFUND_CORRECTION, conversation, user_with_role

ROLES = (roles.VIEWER, roles.SUPPORT, roles.REVIEWER, roles.ADMIN)


@pytest.fixture(autouse=True)
def inline_jobs(settings):
    """Run operations inline with the offline model."""
    settings.QUEUE_BACKEND = "sync"
    settings.OPENAI_API_KEY = ""
    reset_provider()
    yield
    reset_provider()


@pytest.fixture
def client_as(db) -> Callable[[str], Client]:
    """A logged-in test client for a new user of `role`."""

    def make(role: str) -> Client:
        client = Client()
        client.force_login(user_with_role(f"{role}-user", role))
        return client

    return make


@pytest.fixture
def admin_client_(client_as) -> Client:
    return client_as(roles.ADMIN)


@pytest.fixture
def reviewer(client_as) -> Client:
    return client_as(roles.REVIEWER)


HTMX = {"HTTP_HX_REQUEST": "true"}


def add_fact(user_id: str, content: str, status: str = "current") -> UserProfile:
    return profile_services.profile_add(user_id=user_id, content=content, status=status)


@pytest.fixture
def chat(db):
    """Two users who said things the offline model recognises."""
    conversation("alice", ["I work night shifts.", "I prefer metric units."])
    conversation("bob", ["I am vegetarian.", "I live in Lisbon."])


@pytest.fixture
def playbooks_of_two_users(db):
    """Two users taught agent-v0 the same lesson: current user playbooks."""
    for user_id in ("ana", "ben"):
        conversation(user_id, REFUND_CORRECTION, agent_version="agent-v0")
    playbook_services.manual_playbook_generation(agent_version="agent-v0")
