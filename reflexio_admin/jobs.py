"""Job entry points. A job loads its operation, runs it and records the outcome."""

from __future__ import annotations

import logging
from typing import Any

from django.db import close_old_connections, connection

from reflexio_admin import runner
from reflexio_admin.llm import use_model_names
from reflexio_admin.models import GenerationSettings, OperationStatus

logger = logging.getLogger(__name__)


def run_operation(operation_id: int) -> None:
    """Run one operation; a no-op when it is not queued (cancelled, taken)."""
    operation = runner.claim(operation_id)
    if operation is None:
        logger.info("Operation %s is not queued any more; skipping", operation_id)
        return
    logger.info("Operation %s (%s) started", operation_id, operation.kind)
    # Model names may have been changed in the console since this worker began.
    config = GenerationSettings.load()
    use_model_names(config.chat_model, config.embedding_model)
    try:
        runner.execute(operation)
    except BaseException as exc:
        # BaseException: rq stops a job that runs past its timeout with an
        # exception raised from a signal handler, and the row must say so.
        logger.exception("Operation %s failed", operation_id)
        # The error may have been the database connection itself.
        connection.close()
        runner.finish(operation_id, OperationStatus.FAILED, error_message=_reason(exc))
        raise


def _reason(exc: BaseException) -> str:
    name = type(exc).__name__
    if "Timeout" in name:
        return "The job ran past its time limit and was stopped."
    return f"The run stopped on an unexpected error ({name})."


def on_job_failure(job: Any, connection: Any, exc_type: Any, exc: Any, tb: Any) -> None:
    """rq calls this when a job fails, times out or its worker was lost."""
    operation_id = job.args[0] if job.args else None
    if operation_id is None:
        return
    close_old_connections()
    reason = _reason(exc) if isinstance(exc, BaseException) else "The job failed."
    if exc_type is not None and exc_type.__name__ == "AbandonedJobError":
        reason = (
            "The worker running this operation was lost. Work already written "
            "is kept; retry to finish the remaining users."
        )
    if runner.finish(operation_id, OperationStatus.FAILED, error_message=reason):
        logger.warning("Operation %s marked failed by rq: %s", operation_id, reason)
