"""The operation pages: progress polling, details, cancel and retry."""

from django.urls import reverse
from django.utils import timezone

from playbooks.aggregation import run_playbook_aggregation
from playbooks.models import AgentPlaybook
from reflexio_admin.models import Operation, OperationKind, OperationUser
from tests.console.conftest import HTMX


def _operation(**fields) -> Operation:
    values = {
        "kind": OperationKind.RERUN_PROFILES,
        "params": {"user_id": "alice"},
        "scope_key": "profiles/alice",
        "status": "running",
        "total_users": 4,
        "processed_users": 1,
        "heartbeat_at": timezone.now(),
    }
    return Operation.objects.create(**(values | fields))


def test_an_active_run_keeps_polling(reviewer, db):
    operation = _operation()

    response = reviewer.get(
        reverse("console:operation_progress", args=[operation.pk]), **HTMX
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert 'hx-trigger="every 1s"' in html
    assert 'value="25.0"' in html
    assert "1 of 4 users done" in html


def test_a_finished_run_stops_the_polling(reviewer, db):
    operation = _operation(status="completed", processed_users=4)

    response = reviewer.get(
        reverse("console:operation_progress", args=[operation.pk]), **HTMX
    )

    html = response.content.decode()
    assert response.status_code == 286
    assert "hx-trigger" not in html
    assert 'value="100.0"' in html
    assert "Completed" in html


def test_the_progress_url_opens_the_operation_page_without_htmx(reviewer, db):
    operation = _operation()

    response = reviewer.get(reverse("console:operation_progress", args=[operation.pk]))

    assert response["Location"] == reverse(
        "console:operation_detail", args=[operation.pk]
    )
    assert "HX-Request" in response["Vary"]


def test_a_run_started_in_the_console_polls_until_it_ends(reviewer, chat, settings):
    # Operations run inline in these tests, so the first poll finds the end.
    started = reviewer.post(
        reverse("profiles:rerun"), {"user_id": "alice", "time_zone": "UTC"}, **HTMX
    )
    operation = Operation.objects.get()

    final = reviewer.get(
        reverse("console:operation_progress", args=[operation.pk]), **HTMX
    )

    assert started.status_code == 200
    assert final.status_code == 286
    assert "items produced" in final.content.decode()


def test_the_operation_page_shows_everything_about_a_run(reviewer, db):
    operation = _operation(
        status="completed",
        processed_users=3,
        failed_users=1,
        prompt_tokens=1200,
        completion_tokens=345,
        llm_calls=7,
    )
    OperationUser.objects.create(
        operation=operation, user_id="dora", state="failed", error="model said no"
    )

    html = reviewer.get(
        reverse("console:operation_detail", args=[operation.pk])
    ).content.decode()

    assert "Rerun profile generation #" in html
    assert "user_id" in html and "alice" in html
    assert "1545 (1200 prompt, 345 completion)" in html
    assert "<dd>7</dd>" in html
    assert "model said no" in html
    assert "Retry failed users" in html
    assert "data-reload-on-finish" in html


def test_failed_users_are_paged(reviewer, db):
    operation = _operation(status="completed", failed_users=30)
    OperationUser.objects.bulk_create(
        OperationUser(operation=operation, user_id=f"u{n}", state="failed", error="x")
        for n in range(30)
    )
    url = reverse("console:operation_detail", args=[operation.pk])

    first = reviewer.get(url)
    next_url = first.context["errors"].next_url
    second = reviewer.get(url + next_url, **HTMX)

    assert len(first.context["errors"].items) == 25
    assert "errors_after=" in next_url
    assert second.content.decode().strip().startswith('<div id="operation-errors"')
    assert len(second.context["errors"].items) == 5


def test_cancel_asks_a_running_operation_to_stop(reviewer, db):
    operation = _operation()

    response = reviewer.post(
        reverse("console:operation_cancel", args=[operation.pk]), **HTMX
    )

    operation.refresh_from_db()
    assert operation.cancel_requested
    assert "cancelling" in response.content.decode()
    assert "Cancel requested" in response.content.decode()


def test_cancelling_a_finished_run_says_why_not(reviewer, db):
    operation = _operation(status="completed")

    response = reviewer.post(
        reverse("console:operation_cancel", args=[operation.pk]), follow=True
    )

    assert "has already ended" in response.content.decode()


def test_retry_runs_the_failed_users_again(reviewer, chat):
    operation = _operation(status="completed", processed_users=0, failed_users=1)
    OperationUser.objects.create(
        operation=operation, user_id="alice", state="failed", error="timeout"
    )

    response = reviewer.post(reverse("console:operation_retry", args=[operation.pk]))

    retry = Operation.objects.get(retry_of=operation)
    assert response["Location"] == reverse("console:operation_detail", args=[retry.pk])
    assert retry.params["only_user_ids"] == ["alice"]
    assert retry.status == "completed"


def test_an_htmx_retry_opens_the_new_operation(reviewer, chat):
    operation = _operation(status="failed")

    response = reviewer.post(
        reverse("console:operation_retry", args=[operation.pk]), **HTMX
    )

    retry = Operation.objects.get(retry_of=operation)
    assert response["HX-Redirect"] == reverse(
        "console:operation_detail", args=[retry.pk]
    )


def test_the_operation_list_filters_by_kind_and_status(reviewer, db):
    _operation(status="completed")
    _operation(
        kind=OperationKind.AGGREGATE_PLAYBOOKS, status="completed", scope_key="a"
    )

    response = reviewer.get(
        reverse("console:operation_list"), {"kind": "run_playbook_aggregation"}
    )

    assert [op.kind for op in response.context["page"].items] == [
        "run_playbook_aggregation"
    ]


def test_an_aggregation_page_shows_each_agent_playbook_with_its_sources(
    reviewer, playbooks_of_two_users
):
    operation = run_playbook_aggregation(
        agent_version="agent-v0", playbook_name="default_playbook_extractor"
    )

    html = reviewer.get(
        reverse("console:operation_detail", args=[operation.pk])
    ).content.decode()

    agent_playbook = AgentPlaybook.objects.get()
    assert "Aggregation result" in html
    assert 'id="cluster-1"' in html
    assert f'id="agent-playbook-{agent_playbook.pk}"' in html
    for source in agent_playbook.user_playbooks.all():
        assert source.content in html
