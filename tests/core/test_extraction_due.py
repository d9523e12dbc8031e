"""When a publish queues automatic extraction (`planning.extractions_due`)."""

import pytest

from reflexio_admin.models import (
    ExtractionCursor,
    Interaction,
    Operation,
    OperationKind,
    OperationStatus,
)
from reflexio_admin.planning import DueCheck, extractions_due
from tests.factories import conversation

pytestmark = pytest.mark.django_db

ANA_V1 = {"user_id": "ana", "agent_version": "v1"}


def due(batch_interval: int, scope: dict[str, str] = ANA_V1) -> bool:
    check = DueCheck(
        scope,
        cursor_key="playbooks/v1/ana",
        batch_interval=batch_interval,
        kind=OperationKind.AUTO_PLAYBOOKS,
        key="v1/ana",
    )
    return extractions_due([check])[0]


def test_extraction_is_due_once_batch_interval_interactions_arrived():
    conversation("ana", ["one", "two", "three"], agent_version="v1")

    assert due(3)
    assert not due(4)


def test_other_users_and_agent_versions_do_not_count():
    conversation("ana", ["one"], agent_version="v1")
    conversation("ana", ["two", "three"], agent_version="v2")
    conversation("ben", ["four", "five"], agent_version="v1")

    assert due(1)
    assert not due(2)
    assert due(3, {"user_id": "ana"})


def test_only_interactions_after_the_cursor_count():
    conversation("ana", ["one", "two", "three"], agent_version="v1")
    second = Interaction.objects.order_by("id")[1]
    ExtractionCursor.objects.create(
        scope_key="playbooks/v1/ana", last_interaction_id=second.pk
    )

    assert due(1)
    assert not due(2)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (OperationStatus.QUEUED, False),
        (OperationStatus.RUNNING, False),
        (OperationStatus.COMPLETED, True),
        (OperationStatus.FAILED, True),
    ],
)
def test_an_active_run_for_the_scope_holds_the_next_one_back(status, expected):
    conversation("ana", ["one", "two"], agent_version="v1")
    Operation.objects.create(
        kind=OperationKind.AUTO_PLAYBOOKS, scope_key="v1/ana", status=status
    )
    Operation.objects.create(
        kind=OperationKind.AUTO_PROFILES,
        scope_key="v1/ana",
        status=OperationStatus.RUNNING,
    )

    assert due(2) is expected


def test_an_interval_of_zero_means_any_new_interaction():
    assert not due(0)

    conversation("ana", ["one"], agent_version="v1")

    assert due(0)


def test_several_scopes_are_answered_in_one_query(django_assert_num_queries):
    conversation("ana", ["one", "two"], agent_version="v1")
    checks = [
        DueCheck(ANA_V1, "playbooks/v1/ana", 2, OperationKind.AUTO_PLAYBOOKS, "a"),
        DueCheck(ANA_V1, "playbooks/v1/ana", 3, OperationKind.AUTO_PLAYBOOKS, "b"),
        DueCheck(
            {"user_id": "ana"}, "profiles/ana", 1, OperationKind.AUTO_PROFILES, "c"
        ),
    ]

    with django_assert_num_queries(1):
        answers = extractions_due(checks)

    assert answers == [True, False, True]
