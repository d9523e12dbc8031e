import pytest

from playbooks import services as playbook_services
from playbooks.models import AgentPlaybook
from profiles import services as profile_services
from reflexio_admin.llm import reset_provider
from reflexio_admin.models import (
    Interaction,
    Operation,
    OperationKind,
    OperationStatus,
    OperationUser,
    Request,
)
from reflexio_admin.status import Status
from tests.factories import REFUND_CORRECTION, conversation


@pytest.fixture(autouse=True)
def inline_jobs(settings):
    """Operations run inline with the offline model; cheap password hashes."""
    settings.QUEUE_BACKEND = "sync"
    settings.OPENAI_API_KEY = ""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    reset_provider()
    yield
    reset_provider()


@pytest.fixture
def stored(db) -> dict[str, list]:
    """A little of everything, so that hostile input can hit real rows.

    Returns the ids of each kind, for `strategies.resolve`.
    """
    conversation("ana", ["I live in Berlin.", "I prefer metric units."])
    conversation("ben", REFUND_CORRECTION, agent_version="agent-v0")
    profiles = [
        profile_services.profile_add(user_id="ana", content="Lives in Berlin"),
        profile_services.profile_add(
            user_id="ana", content="Lives in Munich", status=Status.PENDING
        ),
    ]
    user_playbooks = [
        playbook_services.user_playbook_add(
            user_id="ben",
            agent_version="agent-v0",
            playbook_name="default_playbook_extractor",
            trigger="refund",
            content="Refund to the card",
        )
    ]
    agent_playbook = AgentPlaybook.objects.create(
        agent_version="agent-v0",
        playbook_name="default_playbook_extractor",
        trigger="refund",
        content="Refund to the card",
    )
    operation = Operation.objects.create(
        kind=OperationKind.RERUN_PROFILES,
        scope_key="profiles/ana",
        params={"user_id": "ana"},
        status=OperationStatus.COMPLETED,
        total_users=1,
        failed_users=1,
    )
    OperationUser.objects.create(
        operation=operation, user_id="ana", state=OperationUser.State.FAILED
    )
    return {
        "profile": [p.profile_id for p in profiles] + [str(p.pk) for p in profiles],
        "user_playbook": [p.pk for p in user_playbooks],
        "agent_playbook": [agent_playbook.pk],
        "operation": [operation.pk],
        "interaction": list(Interaction.objects.values_list("pk", flat=True)),
        "user": ["ana", "ben"],
        "request": list(Request.objects.values_list("request_id", flat=True)),
        "pk": [profiles[0].pk, user_playbooks[0].pk, agent_playbook.pk, operation.pk],
    }
