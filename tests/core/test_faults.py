"""Faults on real parts: killed workers, timeouts, Redis restarts, lost connections."""

import os
import shutil
import signal
import socket
import subprocess
import time

import django_rq
import pytest
from django.db import connection, transaction

from profiles import services
from profiles.models import ProfileGeneration, UserProfile
from reflexio_admin.models import Operation, OperationStatus, OperationUser
from reflexio_admin.operations import operation_retry, operations_reap_stale
from reflexio_admin.status import Status
from tests.factories import conversation
from tests.workers import start_worker, stop_worker, wait_until

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.worker,
]


def many_users(count: int) -> None:
    for n in range(count):
        conversation(f"user-{n:02d}", [f"I live in City{n}."])


def state(operation: Operation) -> Operation:
    operation.refresh_from_db()
    return operation


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid:
            found.append(int(entry))
    return found


def kill_worker(process: subprocess.Popen) -> None:
    """SIGKILL a worker and the work horse it forked (which has its own group)."""
    for pid in children(process.pid):
        os.kill(pid, signal.SIGKILL)
    process.kill()
    process.wait(timeout=10)


@pytest.fixture
def slow_llm(openai_server):
    openai_server.reset()
    openai_server.default_delay = 0.25
    yield {"OPENAI_API_KEY": "test-key", "OPENAI_BASE_URL": openai_server.base_url}
    openai_server.reset()


def test_a_killed_worker_leaves_a_failed_run_that_retry_finishes(
    rq_queue, slow_llm, settings
):
    settings.OPERATION_STALE_SECONDS = 4
    many_users(10)
    services.profile_add(user_id="user-00", content="Has a dog")
    current_before = set(UserProfile.objects.filter(status=Status.CURRENT))
    worker = start_worker(
        LLM_CONCURRENCY="1", OPERATION_HEARTBEAT_SECONDS="1", **slow_llm
    )
    operation = services.rerun_profile_generation()
    wait_until(lambda: state(operation).processed_users >= 3, timeout=60)

    kill_worker(worker)
    started = time.monotonic()
    wait_until(
        lambda: operations_reap_stale() or state(operation).status == "failed",
        timeout=120,
    )

    assert time.monotonic() - started < 120
    operation = state(operation)
    assert operation.status == OperationStatus.FAILED
    assert "stopped responding" in operation.error_message
    assert set(UserProfile.objects.filter(status=Status.CURRENT)) == current_before
    done = set(
        OperationUser.objects.filter(operation=operation, state="done").values_list(
            "user_id", flat=True
        )
    )

    retry = operation_retry(operation=operation)
    worker = start_worker(burst=True, **slow_llm)
    try:
        wait_until(lambda: not state(retry).is_active, timeout=120)
    finally:
        stop_worker(worker)

    retried = set(retry.user_results.values_list("user_id", flat=True))
    assert retry.status == OperationStatus.COMPLETED
    assert retried.isdisjoint(done)
    assert len(retried | done) == 10
    pending = ProfileGeneration.objects.filter(status=Status.PENDING)
    assert pending.count() == 10
    assert UserProfile.objects.filter(status=Status.PENDING).count() == 10


def test_a_job_past_its_timeout_ends_failed_and_not_complete(
    rq_queue, slow_llm, settings
):
    settings.RQ_JOB_TIMEOUT = 2
    many_users(20)
    worker = start_worker(burst=True, LLM_CONCURRENCY="1", **slow_llm)
    try:
        operation = services.rerun_profile_generation()
        wait_until(lambda: not state(operation).is_active, timeout=60)
    finally:
        stop_worker(worker)

    assert operation.status == OperationStatus.FAILED
    assert "time limit" in operation.error_message
    assert operation.processed_users < 20
    written = UserProfile.objects.filter(status=Status.PENDING).count()
    assert written == operation.processed_users


def test_a_database_connection_killed_mid_job_fails_that_job_and_the_next_works(
    rq_queue, slow_llm
):
    many_users(30)
    worker = start_worker(LLM_CONCURRENCY="1", **slow_llm)
    try:
        first = services.rerun_profile_generation()
        wait_until(lambda: state(first).processed_users >= 2, timeout=60)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        wait_until(lambda: not state(first).is_active, timeout=60)
        second = services.rerun_profile_generation(user_id="user-00")
        wait_until(lambda: not state(second).is_active, timeout=60)
    finally:
        stop_worker(worker)

    assert first.status == OperationStatus.FAILED or first.failed_users > 0
    assert second.status == OperationStatus.COMPLETED
    assert second.failed_users == 0


def test_an_enqueue_in_a_transaction_that_rolls_back_leaves_no_job(rq_queue):
    conversation("ana", ["I live in Berlin."])

    with pytest.raises(RuntimeError), transaction.atomic():
        services.rerun_profile_generation(user_id="ana")
        raise RuntimeError("the surrounding work failed")

    assert rq_queue.count == 0
    assert not Operation.objects.exists()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OwnRedis:
    """A Redis server of this test's own, so restarting it disturbs nobody."""

    def __init__(self, tmp_path):
        self.port = free_port()
        self.dir = tmp_path
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
        )
        wait_until(self.answers, timeout=10)

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture
def own_redis(tmp_path, settings):
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    redis = OwnRedis(tmp_path)
    redis.start()
    settings.QUEUE_BACKEND = "rq"
    settings.RQ_QUEUES = {"default": {"URL": redis.url}}
    yield redis
    redis.stop()


def test_workers_resume_after_redis_restarts_while_idle(own_redis, settings):
    settings.OPERATION_QUEUED_GRACE_SECONDS = 0
    conversation("ana", ["I live in Berlin."])
    worker = start_worker(REDIS_URL=own_redis.url)
    try:
        time.sleep(1)
        own_redis.stop()
        own_redis.start()
        operation = services.rerun_profile_generation(user_id="ana")
        wait_until(lambda: not state(operation).is_active, timeout=60)
    finally:
        stop_worker(worker)

    assert operation.status == OperationStatus.COMPLETED


def test_a_run_in_flight_when_redis_restarts_ends_and_never_vanishes(
    own_redis, settings, slow_llm
):
    settings.OPERATION_QUEUED_GRACE_SECONDS = 0
    many_users(8)
    worker = start_worker(REDIS_URL=own_redis.url, LLM_CONCURRENCY="1", **slow_llm)
    try:
        running = services.rerun_profile_generation()
        wait_until(lambda: state(running).processed_users >= 1, timeout=60)
        own_redis.stop()
        own_redis.start()
        wait_until(
            lambda: operations_reap_stale() >= 0 and not state(running).is_active,
            timeout=90,
        )
    finally:
        stop_worker(worker)

    assert running.status in {OperationStatus.COMPLETED, OperationStatus.FAILED}


def test_a_queued_run_whose_job_was_lost_with_redis_is_queued_again(
    own_redis, settings
):
    settings.OPERATION_QUEUED_GRACE_SECONDS = 0
    conversation("ana", ["I live in Berlin."])
    operation = services.rerun_profile_generation(user_id="ana")
    own_redis.stop()
    own_redis.start()
    assert django_rq.get_queue("default").count == 0

    assert operations_reap_stale() == 1
    worker = start_worker(burst=True, REDIS_URL=own_redis.url)
    try:
        wait_until(lambda: not state(operation).is_active, timeout=60)
    finally:
        stop_worker(worker)

    assert operation.status == OperationStatus.COMPLETED


def test_starting_while_redis_is_down_gives_a_clear_error_and_no_queued_row(
    own_redis,
):
    from reflexio_admin.operations import QueueUnavailableError

    conversation("ana", ["I live in Berlin."])
    own_redis.stop()

    with pytest.raises(QueueUnavailableError, match="Redis"):
        services.rerun_profile_generation(user_id="ana")

    assert not Operation.objects.filter(status=OperationStatus.QUEUED).exists()


def test_starting_from_the_api_or_console_while_redis_is_down_says_so(own_redis):
    from django.contrib.auth.models import User
    from django.test import Client

    from reflexio_admin.models import ApiKey

    conversation("ana", ["I live in Berlin."])
    root = User.objects.create_superuser("root", password="x")
    _, key = ApiKey.issue(user=root, name="k")
    console = Client()
    console.force_login(root)
    own_redis.stop()

    api = Client().post(
        "/api/rerun_profile_generation",
        '{"user_id": "ana"}',
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    form = console.post("/profiles/rerun/", {"user_id": "ana", "time_zone": "UTC"})

    assert api.status_code == 503
    assert "Redis" in api.json()["msg"]
    assert form.status_code == 200
    assert "Redis" in form.content.decode()
    assert not Operation.objects.filter(status=OperationStatus.QUEUED).exists()
