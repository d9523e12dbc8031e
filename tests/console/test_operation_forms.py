"""Forms that start operations: validation, service errors, progress in place."""

from datetime import UTC, datetime

from django.urls import reverse

from profiles.models import ProfileExtractor
from reflexio_admin.models import GenerationSettings, Operation, OperationKind
from tests.console.conftest import HTMX


def test_the_rerun_form_has_every_parameter(reviewer, db):
    html = reviewer.get(reverse("profiles:rerun")).content.decode()

    for name in ("user_id", "start_time", "end_time", "time_zone", "source"):
        assert f'name="{name}"' in html
    assert 'name="extractor_names" value="default_profile_extractor"' in html
    assert 'type="datetime-local"' in html
    assert 'data-browser-zone="auto"' in html
    assert "Times are in" in html


def test_an_end_before_the_start_is_an_error_next_to_the_end(reviewer, chat):
    response = reviewer.post(
        reverse("profiles:rerun"),
        {
            "start_time": "2025-03-02T10:00",
            "end_time": "2025-03-01T10:00",
            "time_zone": "UTC",
        },
        **HTMX,
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="id_end_time_error"' in html
    assert "The end must be after the start." in html
    assert not Operation.objects.exists()


def test_a_time_that_is_not_a_time_is_an_error_next_to_it(reviewer, chat):
    response = reviewer.post(
        reverse("profiles:rerun"),
        {"start_time": "yesterday", "time_zone": "UTC"},
    )

    assert response.status_code == 200
    assert response.context["form"].errors["start_time"] == ["Enter a valid date/time."]


def test_an_unknown_time_zone_is_refused(reviewer, chat):
    response = reviewer.post(
        reverse("profiles:rerun"), {"time_zone": "Mars/Olympus_Mons"}
    )

    assert "time_zone" in response.context["form"].errors


def test_times_are_read_in_the_chosen_zone_and_sent_as_utc(reviewer, chat):
    response = reviewer.post(
        reverse("profiles:rerun"),
        {
            "user_id": "alice",
            "start_time": "2020-01-01T09:00",
            "end_time": "2030-07-01T09:00",
            "time_zone": "Europe/Berlin",
        },
    )

    operation = Operation.objects.get()
    assert response.status_code == 302
    assert (
        operation.params["start_time"]
        == datetime(2020, 1, 1, 8, tzinfo=UTC).isoformat()
    )
    assert (
        operation.params["end_time"] == datetime(2030, 7, 1, 7, tzinfo=UTC).isoformat()
    )


def test_a_service_error_is_shown_on_the_form(reviewer, chat):
    response = reviewer.post(
        reverse("profiles:rerun"),
        {"user_id": "nobody-here", "time_zone": "UTC"},
        **HTMX,
    )

    html = response.content.decode()
    assert 'class="form-errors"' in html
    assert "No interactions found for user_id=nobody-here" in html
    assert 'name="user_id"' in html


def test_manual_generation_without_batch_size_says_why(reviewer, chat):
    GenerationSettings.objects.filter(pk=1).update(batch_size=None)

    response = reviewer.post(reverse("profiles:manual"), {"user_id": "alice"}, **HTMX)

    assert "batch_size is not configured" in response.content.decode()


def test_manual_generation_needs_an_extractor_that_allows_it(reviewer, chat):
    ProfileExtractor.objects.update(allow_manual_trigger=False)

    response = reviewer.post(reverse("profiles:manual"), {"user_id": "alice"}, **HTMX)

    assert "allow_manual_trigger" in response.content.decode()


def test_a_second_overlapping_run_names_the_running_one(reviewer, chat):
    running = Operation.objects.create(
        kind=OperationKind.RERUN_PROFILES, scope_key="profiles/*", status="running"
    )

    response = reviewer.post(
        reverse("profiles:rerun"), {"user_id": "alice", "time_zone": "UTC"}, **HTMX
    )

    assert f"#{running.pk} is already running" in response.content.decode()


def test_starting_from_htmx_shows_the_progress_bar_in_place(reviewer, chat):
    response = reviewer.post(
        reverse("profiles:rerun"), {"user_id": "alice", "time_zone": "UTC"}, **HTMX
    )

    operation = Operation.objects.get()
    html = response.content.decode()
    assert html.strip().startswith(
        f'<section class="card progress" id="operation-{operation.pk}-progress"'
    )
    assert "<progress" in html
    assert reverse("console:operation_detail", args=[operation.pk]) in html
    assert "Review pending" in html


def test_starting_from_a_plain_form_goes_to_the_operation_page(reviewer, chat):
    response = reviewer.post(
        reverse("profiles:rerun"), {"user_id": "alice", "time_zone": "UTC"}
    )

    operation = Operation.objects.get()
    assert response["Location"] == reverse(
        "console:operation_detail", args=[operation.pk]
    )
    assert operation.requested_by.username == "reviewer-user"


def test_the_playbook_rerun_form_needs_an_agent_version(reviewer, chat):
    response = reviewer.post(
        reverse("playbooks:rerun"), {"agent_version": " ", "time_zone": "UTC"}, **HTMX
    )

    assert 'id="id_agent_version_error"' in response.content.decode()


def test_the_playbook_rerun_starts_for_one_agent_version(reviewer, chat):
    response = reviewer.post(
        reverse("playbooks:rerun"),
        {"agent_version": "agent-v0", "time_zone": "UTC", "playbook_name": ""},
    )

    operation = Operation.objects.get()
    assert response.status_code == 302
    assert operation.kind == OperationKind.RERUN_PLAYBOOKS
    assert operation.params == {"agent_version": "agent-v0"}


def test_the_playbook_manual_form_starts_a_manual_run(reviewer, chat):
    reviewer.post(reverse("playbooks:manual"), {"agent_version": "agent-v0"})

    assert Operation.objects.get().kind == OperationKind.MANUAL_PLAYBOOKS
