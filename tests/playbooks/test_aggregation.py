import pytest
from django.contrib.auth.models import User

from playbooks import aggregation, services
from playbooks.models import AgentPlaybook, Approval, PlaybookExtractor
from reflexio_admin.models import AuditEvent, Operation
from reflexio_admin.operations import OperationError
from tests.factories import REFUND_CORRECTION, conversation
from tests.playbooks.test_services import PDF_CORRECTION

pytestmark = pytest.mark.django_db

NAME = "default_playbook_extractor"


def learn(users: dict[str, list]) -> None:
    for user_id, turns in users.items():
        conversation(user_id, turns, agent_version="v2")
    services.manual_playbook_generation(agent_version="v2")


def aggregate() -> Operation:
    operation = aggregation.run_playbook_aggregation(
        agent_version="v2", playbook_name=NAME
    )
    operation.refresh_from_db()
    return operation


def test_aggregation_clusters_similar_rules_into_pending_agent_playbooks():
    learn(
        {
            "ana": REFUND_CORRECTION,
            "ben": REFUND_CORRECTION,
            "cat": REFUND_CORRECTION,
            "dan": PDF_CORRECTION,
            "eve": PDF_CORRECTION,
        }
    )

    operation = aggregate()

    assert operation.status == "completed"
    assert operation.result["read"] == 5
    assert operation.result["clusters_kept"] == 2
    proposals = AgentPlaybook.objects.order_by("id")
    assert [p.approval for p in proposals] == [Approval.PENDING, Approval.PENDING]
    sizes = sorted(p.user_playbooks.count() for p in proposals)
    assert sizes == [2, 3]
    refund = next(p for p in proposals if "refund" in p.content.lower())
    assert {up.user_id for up in refund.user_playbooks.all()} == {"ana", "ben", "cat"}
    assert sorted(operation.result["added"]) == [p.pk for p in proposals]


def test_clusters_below_the_minimum_size_are_dropped():
    PlaybookExtractor.objects.filter(name=NAME).update(min_cluster_size=3)
    learn({"ana": REFUND_CORRECTION, "ben": REFUND_CORRECTION, "cat": PDF_CORRECTION})
    # Three user playbooks are enough to run, but no cluster reaches three.
    operation = aggregate()

    assert operation.result["clusters_kept"] == 0
    assert operation.result["dropped_small"] >= 1
    assert not AgentPlaybook.objects.exists()


def test_an_approved_agent_playbook_is_never_replaced():
    learn({"ana": REFUND_CORRECTION, "ben": REFUND_CORRECTION})
    aggregate()
    approved = AgentPlaybook.objects.get()
    aggregation.agent_playbook_set_approval(
        agent_playbook=approved, approval="approved"
    )
    before = (approved.content, approved.modified_at)

    operation = aggregate()

    approved.refresh_from_db()
    assert (approved.content, approved.modified_at) == before
    assert AgentPlaybook.objects.count() == 1
    assert operation.result["covered"][0]["agent_playbook_id"] == approved.pk


def test_a_rejected_rule_is_not_proposed_again():
    learn({"ana": REFUND_CORRECTION, "ben": REFUND_CORRECTION})
    aggregate()
    rejected = AgentPlaybook.objects.get()
    aggregation.agent_playbook_set_approval(
        agent_playbook=rejected, approval="rejected"
    )

    aggregate()

    assert list(AgentPlaybook.objects.values_list("approval", flat=True)) == [
        Approval.REJECTED
    ]


def test_aggregation_reads_every_page_of_user_playbooks(monkeypatch):
    monkeypatch.setattr(aggregation, "PAGE_SIZE", 2)
    learn({f"user-{n}": REFUND_CORRECTION for n in range(7)})

    operation = aggregate()

    assert operation.result["read"] == 7
    assert AgentPlaybook.objects.get().user_playbooks.count() == 7


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("unknown", "no playbook extractor has that name"),
        ("too_few", "Only 1 current user playbook"),
        ("disabled", "Aggregation is turned off"),
    ],
)
def test_aggregation_that_cannot_run_says_exactly_why(setup, message):
    learn({"ana": REFUND_CORRECTION})
    name = NAME
    if setup == "unknown":
        name = "nope"
    if setup == "disabled":
        PlaybookExtractor.objects.update(aggregation_enabled=False)

    with pytest.raises(OperationError, match=message):
        aggregation.run_playbook_aggregation(agent_version="v2", playbook_name=name)

    assert not Operation.objects.filter(kind="run_playbook_aggregation").exists()


def test_approval_records_who_decided_and_when():
    reviewer = User.objects.create_user("rita")
    learn({"ana": REFUND_CORRECTION, "ben": REFUND_CORRECTION})
    aggregate()
    proposal = AgentPlaybook.objects.get()

    aggregation.agent_playbook_set_approval(
        agent_playbook=proposal, approval="approved", actor=reviewer
    )

    proposal.refresh_from_db()
    assert proposal.reviewed_by == reviewer
    assert proposal.reviewed_at is not None
    event = AuditEvent.objects.get(action="agent_playbook_approved")
    assert event.actor_name == "rita"


def test_cluster_labels_group_by_cosine_similarity():
    import numpy as np

    vectors = np.array([[1, 0, 0], [0.99, 0.1, 0], [0, 1, 0], [0, 0.98, 0.05]])

    labels = aggregation.cluster_labels(vectors, similarity=0.9, min_size=2)

    assert labels[0] == labels[1]
    assert labels[2] == labels[3]
    assert labels[0] != labels[2]
