import math
from datetime import timedelta

import pytest
from django.utils import timezone

from profiles import services
from profiles.models import UserProfile
from reflexio_admin import operations, queue, runner
from reflexio_admin.models import (
    Operation,
    OperationKind,
    OperationStatus,
    OperationUser,
)
from reflexio_admin.operations import (
    OperationConflict,
    OperationError,
    QueueUnavailableError,
    operation_cancel,
    operation_retry,
    operation_start,
    operations_reap_stale,
)
from reflexio_admin.status import Status
from tests.factories import conversation

pytestmark = pytest.mark.django_db


def three_users():
    conversation("ana", ["I live in Berlin."])
    conversation("ben", ["I live in Paris."])
    conversation("cat", ["I live in Rome."])


def test_a_failing_user_does_not_fail_the_run_and_can_be_retried(openai_llm):
    three_users()
    # The first user's extraction fails on every attempt (1 call + 1 retry).
    openai_llm.push(status=500, times=2)

    operation = services.rerun_profile_generation()

    operation.refresh_from_db()
    assert operation.status == OperationStatus.COMPLETED
    assert (operation.processed_users, operation.failed_users) == (2, 1)
    failure = OperationUser.objects.get(operation=operation, state="failed")
    assert failure.user_id == "ana"
    assert "model server" in failure.error or "500" in failure.error

    retry = operation_retry(operation=operation)

    retry.refresh_from_db()
    assert retry.status == OperationStatus.COMPLETED
    assert retry.total_users == 1
    assert list(retry.user_results.values_list("user_id", flat=True)) == ["ana"]
    assert UserProfile.objects.filter(user_id="ana", status=Status.PENDING).exists()


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 429, "retry_after": 0},
        {"status": 500},
        {"malformed": True},
    ],
)
def test_a_passing_model_fault_is_retried_and_the_user_succeeds(openai_llm, fault):
    conversation("ana", ["I live in Berlin."])
    openai_llm.push(**fault)

    operation = services.rerun_profile_generation(user_id="ana")

    operation.refresh_from_db()
    assert (operation.processed_users, operation.failed_users) == (1, 0)
    assert UserProfile.objects.get(status=Status.PENDING).content == "Lives in Berlin"
    assert operation.prompt_tokens > 0


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ({"refusal": "I can't help with that"}, "refused"),
        ({"truncated": True}, "cut off"),
        ({"malformed": True, "times": 2}, "malformed"),
        ({"delay": 3.0, "times": 2}, "timed out"),
    ],
    ids=["refusal", "truncated", "malformed", "timeout"],
)
def test_a_lasting_model_fault_fails_that_user_with_the_reason(
    openai_llm, fault, reason
):
    conversation("ana", ["I live in Berlin."])
    conversation("ben", ["I live in Paris."])
    openai_llm.push(**fault)

    operation = services.rerun_profile_generation()

    operation.refresh_from_db()
    assert operation.status == OperationStatus.COMPLETED
    assert (operation.processed_users, operation.failed_users) == (1, 1)
    failure = OperationUser.objects.get(operation=operation, state="failed")
    assert reason in failure.error
    assert UserProfile.objects.filter(user_id="ben", status=Status.PENDING).exists()


@pytest.mark.parametrize(
    "fault",
    [
        {"refusal": "I can't help with that"},
        {"truncated": True},
        {"malformed": True, "times": 2},
    ],
    ids=["refusal", "truncated", "malformed"],
)
def test_the_tokens_of_an_unusable_answer_are_still_recorded(openai_llm, fault):
    conversation("ana", ["I live in Berlin."])
    openai_llm.push(**fault)

    operation = services.rerun_profile_generation(user_id="ana")

    operation.refresh_from_db()
    assert (operation.processed_users, operation.failed_users) == (0, 1)
    assert operation.prompt_tokens > 0
    assert operation.completion_tokens > 0


def test_a_cancelled_run_stops_before_the_next_user_and_keeps_what_it_wrote(
    monkeypatch,
):
    three_users()
    calls = {"n": 0}
    original = services.RerunPlan.process

    def process_then_cancel(self, user_id):
        outcome = original(self, user_id)
        calls["n"] += 1
        if calls["n"] == 1:
            Operation.objects.filter(pk=self.operation.pk).update(cancel_requested=True)
            runner_progress_flush_now(monkeypatch)
        return outcome

    monkeypatch.setattr(services.RerunPlan, "process", process_then_cancel)

    operation = services.rerun_profile_generation()

    operation.refresh_from_db()
    assert operation.status == OperationStatus.CANCELLED
    assert operation.processed_users == 1
    [kept] = UserProfile.objects.filter(status=Status.PENDING)
    assert kept.operation_id == operation.pk


def runner_progress_flush_now(monkeypatch):
    monkeypatch.setattr(runner, "FLUSH_SECONDS", 0.0)


def test_cancelling_a_queued_run_stops_it_before_it_starts():
    operation = Operation.objects.create(kind="rerun_profile_generation")

    operation_cancel(operation=operation)

    operation.refresh_from_db()
    assert operation.status == OperationStatus.CANCELLED
    assert runner.claim(operation.pk) is None


def test_cancelling_a_finished_run_is_refused():
    operation = Operation.objects.create(
        kind="rerun_profile_generation", status=OperationStatus.COMPLETED
    )

    with pytest.raises(OperationError, match="already ended"):
        operation_cancel(operation=operation)


def test_a_run_without_a_heartbeat_is_marked_failed(settings):
    settings.OPERATION_STALE_SECONDS = 60
    stale = Operation.objects.create(
        kind="rerun_profile_generation",
        status=OperationStatus.RUNNING,
        heartbeat_at=timezone.now() - timedelta(seconds=120),
    )
    alive = Operation.objects.create(
        kind="manual_profile_generation",
        status=OperationStatus.RUNNING,
        heartbeat_at=timezone.now(),
    )

    assert operations_reap_stale() == 1

    stale.refresh_from_db()
    alive.refresh_from_db()
    assert stale.status == OperationStatus.FAILED
    assert "stopped responding" in stale.error_message
    assert alive.status == OperationStatus.RUNNING


def test_retrying_a_failed_run_skips_users_that_completed():
    three_users()
    failed = Operation.objects.create(
        kind="rerun_profile_generation",
        scope_key="profiles/*",
        status=OperationStatus.FAILED,
        params={},
    )
    OperationUser.objects.create(operation=failed, user_id="ana", state="done")

    retry = operation_retry(operation=failed)

    retry.refresh_from_db()
    assert retry.total_users == 2
    assert set(retry.user_results.values_list("user_id", flat=True)) == {"ben", "cat"}


def test_starting_while_the_queue_is_unreachable_leaves_no_queued_run(
    settings, django_capture_on_commit_callbacks
):
    settings.QUEUE_BACKEND = "rq"
    settings.RQ_QUEUES = {"default": {"URL": "redis://127.0.0.1:1/0"}}
    conversation("ana", ["I live in Berlin."])

    with (
        pytest.raises(QueueUnavailableError, match="not reachable"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        services.rerun_profile_generation(user_id="ana")

    assert not Operation.objects.filter(status=OperationStatus.QUEUED).exists()


def _running(*, heartbeat_age: timedelta) -> Operation:
    return Operation.objects.create(
        kind=OperationKind.AUTO_PROFILES,
        scope_key="profiles/ana",
        status=OperationStatus.RUNNING,
        heartbeat_at=timezone.now() - heartbeat_age,
    )


def test_a_run_whose_worker_died_does_not_block_the_next_start(settings, rq_queue):
    settings.OPERATION_REAP_INTERVAL_SECONDS = 3600
    operation_start(kind=OperationKind.AUTO_PROFILES, params={}, key="profiles/ben")
    dead = _running(heartbeat_age=timedelta(hours=1))

    started = operation_start(
        kind=OperationKind.AUTO_PROFILES, params={}, key="profiles/ana"
    )

    dead.refresh_from_db()
    assert dead.status == OperationStatus.FAILED
    assert started.status == OperationStatus.QUEUED


def test_a_live_run_still_blocks_the_next_start(settings, rq_queue):
    settings.OPERATION_REAP_INTERVAL_SECONDS = 3600
    _running(heartbeat_age=timedelta(0))

    with pytest.raises(OperationConflict, match="already running"):
        operation_start(kind=OperationKind.AUTO_PROFILES, params={}, key="profiles/ana")


def test_starts_look_for_lost_jobs_at_most_once_per_interval(
    settings, rq_queue, monkeypatch
):
    settings.OPERATION_QUEUED_GRACE_SECONDS = 0
    settings.OPERATION_REAP_INTERVAL_SECONDS = 3600
    monkeypatch.setattr(operations, "_last_reap", -math.inf)
    operation_start(kind=OperationKind.AUTO_PROFILES, params={}, key="profiles/ana")
    lost = Operation.objects.create(
        kind=OperationKind.AUTO_PROFILES, scope_key="profiles/ben"
    )

    operation_start(kind=OperationKind.AUTO_PROFILES, params={}, key="profiles/cat")
    assert not queue.job_exists(lost.pk)

    settings.OPERATION_REAP_INTERVAL_SECONDS = 0
    operation_start(kind=OperationKind.AUTO_PROFILES, params={}, key="profiles/dan")
    assert queue.job_exists(lost.pk)


def test_enqueueing_many_runs_connects_to_redis_once(rq_queue):
    def connections_made() -> int:
        return rq_queue.connection.info("stats")["total_connections_received"]

    queue.enqueue_operation(1)
    before = connections_made()
    for operation_id in range(2, 22):
        queue.enqueue_operation(operation_id)

    # A new client per enqueue would make 20; a little room for anything else
    # on this Redis that reconnects meanwhile.
    assert connections_made() - before <= 3
    assert rq_queue.count == 21
