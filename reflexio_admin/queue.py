"""The one module that talks to the job queue.

Three backends, chosen by `settings.QUEUE_BACKEND`:

- `rq`: django-rq on Redis; `manage.py rqworker` processes run the jobs.
- `embedded`: a thread pool inside the web process, for `make run` without a
  Redis server. Work still runs in the background of the request.
- `sync`: runs the job at once in the calling thread (service tests).

Jobs receive an operation id, never model instances.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import close_old_connections, connections

if TYPE_CHECKING:
    from redis import Redis
    from rq import Queue

logger = logging.getLogger(__name__)

JOB_PATH = "reflexio_admin.jobs.run_operation"
FAILURE_CALLBACK_PATH = "reflexio_admin.jobs.on_job_failure"


class QueueUnavailable(Exception):
    """The job queue could not be reached; nothing was enqueued."""


_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()
# Operations handed to the embedded pool of this process and not finished.
_embedded_jobs: set[int] = set()
# One Redis client per queue configuration, shared by the threads of a
# process: its connection pool keeps sockets open between enqueues (a new
# client per call would connect and handshake every time). redis-py notices a
# fork and opens new sockets in the child, so forked workers are safe.
_redis_clients: dict[str, Redis] = {}
_redis_lock = threading.Lock()


def _embedded_executor() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(
                max_workers=settings.EMBEDDED_QUEUE_WORKERS,
                thread_name_prefix="reflexio-job",
            )
        return _executor


def _run_in_thread(func: Callable[[int], None], operation_id: int) -> None:
    close_old_connections()
    try:
        func(operation_id)
    except Exception:
        logger.exception("Embedded job for operation %s failed", operation_id)
    finally:
        _embedded_jobs.discard(operation_id)
        connections.close_all()


def redis_connection() -> Redis:
    """The Redis client of the "default" queue, made once per configuration."""
    config = settings.RQ_QUEUES["default"]
    key = repr(sorted(config.items()))
    with _redis_lock:
        client = _redis_clients.get(key)
        if client is None:
            import django_rq

            client = _redis_clients[key] = django_rq.get_connection("default")
        return client


def rq_queue() -> Queue:
    """The rq queue that operations run from, on the shared client."""
    import django_rq

    return django_rq.get_queue("default", connection=redis_connection())


def enqueue_operation(operation_id: int) -> str:
    """Queue the job that runs an operation and return the job id."""
    from reflexio_admin import jobs

    job_id = f"operation-{operation_id}"
    backend = settings.QUEUE_BACKEND
    if backend == "sync":
        jobs.run_operation(operation_id)
        return job_id
    if backend == "embedded":
        _embedded_jobs.add(operation_id)
        _embedded_executor().submit(_run_in_thread, jobs.run_operation, operation_id)
        return job_id

    from redis.exceptions import RedisError
    from rq import Callback

    try:
        rq_queue().enqueue(
            JOB_PATH,
            operation_id,
            job_id=job_id,
            job_timeout=settings.RQ_JOB_TIMEOUT,
            result_ttl=settings.RQ_RESULT_TTL,
            failure_ttl=7 * 24 * 3600,
            on_failure=Callback(FAILURE_CALLBACK_PATH),
        )
    except RedisError as exc:
        logger.warning("Could not enqueue operation %s: %s", operation_id, exc)
        raise QueueUnavailable(
            "The job queue (Redis) is not reachable, so the operation was not "
            "started. Try again when Redis is back."
        ) from exc
    return job_id


def job_exists(operation_id: int) -> bool | None:
    """Whether the queue still holds the job of an operation; None if unknown."""
    backend = settings.QUEUE_BACKEND
    if backend == "sync":
        return None
    if backend == "embedded":
        return operation_id in _embedded_jobs
    from redis.exceptions import RedisError
    from rq.job import Job

    try:
        return Job.exists(f"operation-{operation_id}", connection=redis_connection())
    except RedisError:
        return None


def missing_jobs(operation_ids: Sequence[int]) -> set[int] | None:
    """The operations among `operation_ids` whose job the queue no longer holds.

    One round trip to Redis for all of them; None when that is unknown.
    """
    backend = settings.QUEUE_BACKEND
    if backend == "sync":
        return None
    if backend == "embedded":
        return {pk for pk in operation_ids if pk not in _embedded_jobs}
    from redis.exceptions import RedisError
    from rq.job import Job

    try:
        pipeline = redis_connection().pipeline(transaction=False)
        for pk in operation_ids:
            pipeline.exists(Job.key_for(f"operation-{pk}"))
        found = pipeline.execute()
    except RedisError:
        return None
    return {pk for pk, exists in zip(operation_ids, found, strict=True) if not exists}


def shutdown_embedded(wait: bool = True) -> None:
    """Stop the embedded pool (tests and process exit)."""
    global _executor
    with _executor_lock:
        if _executor is not None:
            _executor.shutdown(wait=wait)
            _executor = None
