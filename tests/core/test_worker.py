"""Operations run by real `manage.py rqworker` processes on Redis."""

import pytest

from playbooks import aggregation
from playbooks import services as playbook_services
from playbooks.models import AgentPlaybook
from profiles import services as profile_services
from profiles.models import UserProfile
from reflexio_admin.models import Operation, OperationStatus
from reflexio_admin.operations import operation_cancel
from reflexio_admin.status import Status
from tests.factories import REFUND_CORRECTION, conversation
from tests.workers import start_worker, stop_worker, wait_until

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.worker,
]


def finished(operation: Operation) -> Operation | None:
    operation.refresh_from_db()
    return operation if not operation.is_active else None


def test_a_rerun_is_run_by_a_real_worker_and_reports_progress(rq_queue):
    for user_id, city in (("ana", "Berlin"), ("ben", "Paris"), ("cat", "Rome")):
        conversation(user_id, [f"I live in {city}."])

    operation = profile_services.rerun_profile_generation()
    assert operation.status == OperationStatus.QUEUED
    assert rq_queue.count == 1

    worker = start_worker(burst=True)
    try:
        wait_until(lambda: finished(operation), timeout=60)
    finally:
        stop_worker(worker)

    assert operation.status == OperationStatus.COMPLETED
    assert (operation.total_users, operation.processed_users) == (3, 3)
    assert operation.rq_job_id == f"operation-{operation.pk}"
    assert UserProfile.objects.filter(status=Status.PENDING).count() == 3


def test_a_playbook_rerun_and_an_aggregation_run_on_a_real_worker(rq_queue):
    for user_id in ("ana", "ben"):
        conversation(user_id, REFUND_CORRECTION, agent_version="v2")
    worker = start_worker()
    try:
        rerun = playbook_services.rerun_playbook_generation(agent_version="v2")
        wait_until(lambda: finished(rerun), timeout=60)
        playbook_services.upgrade_user_playbooks(agent_version="v2")
        run = aggregation.run_playbook_aggregation(
            agent_version="v2", playbook_name="default_playbook_extractor"
        )
        wait_until(lambda: finished(run), timeout=60)
    finally:
        stop_worker(worker)

    assert rerun.status == run.status == OperationStatus.COMPLETED
    proposal = AgentPlaybook.objects.get()
    assert proposal.user_playbooks.count() == 2


def test_a_run_cancelled_on_a_real_worker_stops_early(rq_queue, openai_server):
    openai_server.reset()
    openai_server.default_delay = 0.3
    for n in range(12):
        conversation(f"user-{n:02d}", [f"I live in City{n}."])
    worker = start_worker(
        OPENAI_API_KEY="test-key",
        OPENAI_BASE_URL=openai_server.base_url,
        LLM_CONCURRENCY="1",
    )
    try:
        operation = profile_services.rerun_profile_generation()
        wait_until(
            lambda: Operation.objects.get(pk=operation.pk).processed_users >= 1,
            timeout=60,
        )
        operation_cancel(operation=Operation.objects.get(pk=operation.pk))
        wait_until(lambda: finished(operation), timeout=60)
    finally:
        stop_worker(worker)
        openai_server.reset()

    assert operation.status == OperationStatus.CANCELLED
    assert 1 <= operation.processed_users < 12
    written = UserProfile.objects.filter(status=Status.PENDING, operation=operation)
    assert written.count() == operation.processed_users
