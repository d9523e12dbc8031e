from datetime import timedelta

import pytest
from django.utils import timezone

from reflexio_admin.models import (
    Operation,
    OperationKind,
    OperationStatus,
    OperationUser,
)
from tests.factories import conversation

pytestmark = pytest.mark.django_db


def run_row(kind=OperationKind.RERUN_PROFILES, status="queued", **fields):
    """An operation row in a given state, as a worker would have left it."""
    fields.setdefault("scope_key", "profiles/*")
    return Operation.objects.create(kind=kind, status=status, **fields)


def status_of(api, **query):
    response = api.get("get_operation_status", **query)
    assert response.status_code == 200, response.content
    return response.json()["operation_status"]


def test_the_status_of_the_latest_profile_generation_in_reflexio_shape(api):
    conversation("ana", ["I work night shifts.", "I live in Berlin."])
    api.post("rerun_profile_generation", {"user_id": "ana"})

    info = status_of(api, service_name="profile_generation")

    assert info["service_name"] == "profile_generation"
    assert info["status"] == "completed"
    assert (info["total_users"], info["processed_users"], info["failed_users"]) == (
        1,
        1,
        0,
    )
    assert info["processed_user_ids"] == ["ana"]
    assert info["request_params"] == {"user_id": "ana"}
    assert info["stats"]["items_produced"] == 2
    assert info["stats"]["llm_calls"] > 0
    assert info["stats"]["prompt_tokens"] > 0
    assert info["progress_percentage"] == 100.0
    assert isinstance(info["started_at"], int)
    assert isinstance(info["completed_at"], int)
    assert info["error_message"] is None


def test_profile_generation_is_the_default_service(api):
    conversation("ana", ["I live in Berlin."])
    api.post("manual_profile_generation", {"user_id": "ana"})

    assert status_of(api)["kind"] == OperationKind.MANUAL_PROFILES


def test_no_operation_yet_is_a_null_status_with_a_message(api):
    body = api.get("get_operation_status", service_name="playbook_aggregation").json()

    assert body == {
        "success": True,
        "operation_status": None,
        "msg": "No playbook_aggregation operation has run yet.",
    }


def test_queued_and_running_operations_are_in_progress(api):
    queued = run_row(status=OperationStatus.QUEUED, total_users=4)
    running = run_row(
        kind=OperationKind.RERUN_PLAYBOOKS,
        status=OperationStatus.RUNNING,
        scope_key="v2/*",
        total_users=4,
        processed_users=1,
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
    )

    assert status_of(api, operation_id=queued.pk)["status"] == "in_progress"
    info = status_of(api, service_name="playbook_generation")
    assert info["operation_id"] == running.pk
    assert info["status"] == "in_progress"
    assert info["progress_percentage"] == 25.0
    assert info["started_at"] == int(running.started_at.timestamp())


def test_failed_users_are_listed_with_their_error(api):
    operation = run_row(
        status=OperationStatus.COMPLETED, total_users=2, processed_users=1
    )
    OperationUser.objects.create(operation=operation, user_id="ana", state="done")
    OperationUser.objects.create(
        operation=operation, user_id="bob", state="failed", error="model timed out"
    )

    info = status_of(api, operation_id=operation.pk)

    assert info["failed_user_ids"] == [{"user_id": "bob", "error": "model timed out"}]
    assert info["processed_user_ids"] == ["ana"]


def test_a_running_operation_without_heartbeat_is_reported_failed(api, settings):
    stale = timezone.now() - timedelta(seconds=settings.OPERATION_STALE_SECONDS * 2)
    operation = run_row(
        status=OperationStatus.RUNNING, started_at=stale, heartbeat_at=stale
    )

    info = status_of(api, operation_id=operation.pk)

    assert info["status"] == "failed"
    assert "stopped responding" in info["error_message"]


def test_unknown_operation_ids_and_services_are_refused(api):
    missing = api.get("get_operation_status", operation_id=999999)
    garbled = api.get("get_operation_status", operation_id="abc")
    unknown = api.get("get_operation_status", service_name="dreaming")

    assert missing.status_code == 404
    assert garbled.status_code == 400
    assert garbled.json()["msg"].startswith("operation_id:")
    assert unknown.status_code == 400
    assert "profile_generation" in unknown.json()["msg"]


def test_cancel_by_service_name_cancels_the_active_runs_of_that_service(api):
    profiles = run_row(status=OperationStatus.QUEUED)
    playbooks = run_row(kind=OperationKind.RERUN_PLAYBOOKS, scope_key="v2/*")

    response = api.post("cancel_operation", {"service_name": "profile_generation"})

    body = response.json()
    assert body["success"] is True
    assert body["cancelled_services"] == ["profile_generation"]
    assert body["cancelled_operation_ids"] == [profiles.pk]
    profiles.refresh_from_db()
    playbooks.refresh_from_db()
    assert profiles.status == OperationStatus.CANCELLED
    assert playbooks.status == OperationStatus.QUEUED


def test_cancel_without_a_service_cancels_both_generation_services(api):
    run_row(status=OperationStatus.QUEUED)
    run_row(kind=OperationKind.MANUAL_PLAYBOOKS, scope_key="v2/*")

    body = api.post("cancel_operation", {"service_name": None}).json()

    assert body["cancelled_services"] == ["playbook_generation", "profile_generation"]


def test_cancel_of_a_running_operation_asks_it_to_stop(api):
    operation = run_row(
        status=OperationStatus.RUNNING,
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
    )

    api.post("cancel_operation", {"operation_id": operation.pk})

    operation.refresh_from_db()
    assert operation.cancel_requested is True
    assert operation.status == OperationStatus.RUNNING


def test_cancel_with_nothing_in_progress_is_not_a_success(api):
    response = api.post("cancel_operation", {"service_name": "profile_generation"})

    assert response.status_code == 200
    assert response.json()["success"] is False
    assert response.json()["msg"] == "No profile_generation operation is in progress."


def test_cancel_of_a_finished_operation_is_a_400(api):
    operation = run_row(status=OperationStatus.COMPLETED)

    response = api.post("cancel_operation", {"operation_id": operation.pk})

    assert response.status_code == 400
    assert "already ended" in response.json()["msg"]


def test_retry_runs_the_failed_users_again(api):
    conversation("ana", ["I live in Berlin."])
    failed = run_row(
        status=OperationStatus.COMPLETED,
        params={"user_id": "ana"},
        scope_key="profiles/ana",
        total_users=1,
        failed_users=1,
    )
    OperationUser.objects.create(
        operation=failed, user_id="ana", state="failed", error="boom"
    )

    response = api.post("retry_operation", {"operation_id": failed.pk})

    retry = Operation.objects.get(pk=int(response.json()["operation_id"]))
    assert retry.retry_of == failed
    assert retry.status == OperationStatus.COMPLETED
    assert retry.params["only_user_ids"] == ["ana"]


def test_retry_of_a_run_without_failed_users_says_so(api):
    operation = run_row(status=OperationStatus.COMPLETED)

    response = api.post("retry_operation", {"operation_id": operation.pk})

    assert response.status_code == 400
    assert "no failed users" in response.json()["msg"]


def test_a_second_rerun_of_an_overlapping_scope_is_a_409_naming_the_first(api):
    conversation("ana", ["I live in Berlin."])
    running = run_row(status=OperationStatus.QUEUED)

    response = api.post("rerun_profile_generation", {"user_id": "ana"})

    assert response.status_code == 409
    assert f"#{running.pk}" in response.json()["msg"]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_rerun_is_a_503_when_the_job_queue_is_down(api, settings):
    conversation("ana", ["I live in Berlin."])
    settings.QUEUE_BACKEND = "rq"
    settings.RQ_QUEUES = {"default": {"URL": "redis://127.0.0.1:9/0"}}

    response = api.post("rerun_profile_generation", {"user_id": "ana"})

    assert response.status_code == 503
    assert "Redis" in response.json()["msg"]
    assert Operation.objects.get().status == OperationStatus.FAILED
