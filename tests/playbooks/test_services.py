import pytest

from playbooks import services
from playbooks.models import PlaybookExtractor, UserPlaybook
from reflexio_admin.models import AuditEvent, GenerationSettings, OperationStatus
from reflexio_admin.operations import OperationError
from reflexio_admin.planning import extractions_due
from reflexio_admin.status import Status
from tests.factories import REFUND_CORRECTION, conversation

pytestmark = pytest.mark.django_db

PDF_CORRECTION = [
    "Can you send me my invoice?",
    ("Assistant", "Here is your invoice as a PDF attachment."),
    "Actually, please don't send a PDF, paste it in the chat.",
    ("Assistant", "Sure, here it is pasted in the chat."),
    "Perfect, thanks.",
]


def playbooks(status: str, **filters) -> list[UserPlaybook]:
    return list(UserPlaybook.objects.filter(status=status, **filters).order_by("id"))


def test_a_rerun_writes_pending_rules_grounded_in_the_conversation():
    request = conversation("ana", REFUND_CORRECTION, agent_version="v2")

    operation = services.rerun_playbook_generation(agent_version="v2")

    operation.refresh_from_db()
    assert operation.status == OperationStatus.COMPLETED
    [rule] = playbooks(Status.PENDING)
    assert "refund" in rule.trigger.lower()
    assert "card" in rule.content.lower()
    assert rule.playbook_name == "default_playbook_extractor"
    assert rule.request_id == request.request_id
    assert set(rule.source_interaction_ids) <= set(
        request.interactions.values_list("id", flat=True)
    )
    assert rule.source_interaction_ids


def test_a_rerun_reads_only_the_interactions_of_its_agent_version():
    conversation("ana", REFUND_CORRECTION, agent_version="v1")
    conversation("ben", PDF_CORRECTION, agent_version="v2")

    services.rerun_playbook_generation(agent_version="v2")

    assert {p.user_id for p in playbooks(Status.PENDING)} == {"ben"}
    assert {p.agent_version for p in playbooks(Status.PENDING)} == {"v2"}


def test_a_rerun_replaces_only_the_pending_set_of_its_scope():
    conversation("ana", REFUND_CORRECTION, agent_version="v2")
    services.manual_playbook_generation(agent_version="v2")
    services.rerun_playbook_generation(agent_version="v2")

    services.rerun_playbook_generation(agent_version="v2")

    assert len(playbooks(Status.PENDING)) == 1
    assert len(playbooks(Status.CURRENT)) == 1


def test_a_rerun_limited_to_a_playbook_name_runs_only_that_extractor():
    PlaybookExtractor.objects.create(name="tone", definition_prompt="How to talk.")
    conversation("ana", REFUND_CORRECTION, agent_version="v2")

    services.rerun_playbook_generation(agent_version="v2", playbook_name="tone")

    assert {p.playbook_name for p in playbooks(Status.PENDING)} == {"tone"}


def test_manual_generation_writes_current_rules_and_honours_the_playbook_name():
    PlaybookExtractor.objects.create(name="tone", definition_prompt="How to talk.")
    conversation("ana", PDF_CORRECTION, agent_version="v2")

    services.manual_playbook_generation(agent_version="v2", playbook_name="tone")

    [rule] = playbooks(Status.CURRENT)
    assert rule.playbook_name == "tone"
    assert "pdf" in rule.content.lower()


def test_manual_generation_has_the_same_preconditions_as_for_profiles():
    conversation("ana", PDF_CORRECTION, agent_version="v2")
    GenerationSettings.objects.filter(pk=1).update(batch_size=None)
    with pytest.raises(OperationError, match="batch_size is not configured"):
        services.manual_playbook_generation(agent_version="v2")

    GenerationSettings.objects.filter(pk=1).update(batch_size=10)
    PlaybookExtractor.objects.update(allow_manual_trigger=False)
    with pytest.raises(OperationError, match="allow_manual_trigger"):
        services.manual_playbook_generation(agent_version="v2")


def test_generation_for_an_agent_version_without_interactions_is_refused():
    with pytest.raises(OperationError, match="agent_version=v9"):
        services.rerun_playbook_generation(agent_version="v9")


def test_upgrade_is_scoped_to_its_agent_version_and_playbook_name():
    conversation("ana", REFUND_CORRECTION, agent_version="v1")
    conversation("ana", PDF_CORRECTION, agent_version="v2")
    services.rerun_playbook_generation(agent_version="v1")
    services.rerun_playbook_generation(agent_version="v2")

    result = services.upgrade_user_playbooks(agent_version="v2")

    assert result.promoted == 1
    assert [p.agent_version for p in playbooks(Status.CURRENT)] == ["v2"]
    assert [p.agent_version for p in playbooks(Status.PENDING)] == ["v1"]
    event = AuditEvent.objects.get(action="upgrade_user_playbooks")
    assert event.scope == {"agent_version": "v2"}


def test_downgrade_restores_the_previous_rules():
    conversation("ana", REFUND_CORRECTION, agent_version="v2")
    services.manual_playbook_generation(agent_version="v2")
    first = playbooks(Status.CURRENT)[0].pk
    services.rerun_playbook_generation(agent_version="v2")
    services.upgrade_user_playbooks(agent_version="v2")

    result = services.downgrade_user_playbooks(agent_version="v2")

    assert (result.restored, result.demoted) == (1, 1)
    assert [p.pk for p in playbooks(Status.CURRENT)] == [first]


def _auto_extract(user_id: str, agent_version: str, batch_interval: int):
    """What a publish does for playbooks: ask whether extraction is due, start it."""
    check = services.auto_extraction_check(
        user_id=user_id, agent_version=agent_version, batch_interval=batch_interval
    )
    if not extractions_due([check])[0]:
        return None
    return services.start_auto_extraction(user_id=user_id, agent_version=agent_version)


def test_automatic_extraction_runs_per_user_and_agent_version():
    conversation("ana", REFUND_CORRECTION, agent_version="v2")

    operation = _auto_extract("ana", "v2", batch_interval=5)

    operation.refresh_from_db()
    assert operation.status == OperationStatus.COMPLETED
    assert len(playbooks(Status.CURRENT, user_id="ana", agent_version="v2")) == 1
    assert _auto_extract("ana", "v2", batch_interval=5) is None


def test_editing_a_user_playbook_is_audited():
    playbook = services.user_playbook_add(
        user_id="ana",
        agent_version="v2",
        playbook_name="default_playbook_extractor",
        trigger="When asked for a refund",
        content="Refund to the card.",
    )

    services.user_playbook_update(playbook=playbook, content="Refund to the card used.")

    event = AuditEvent.objects.get(action="user_playbook_updated")
    assert event.before["content"] == "Refund to the card."
    assert event.after["content"] == "Refund to the card used."
