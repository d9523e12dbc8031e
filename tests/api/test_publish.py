import io
import json

import pytest
from django.db import DatabaseError

from profiles.models import UserProfile
from reflexio_admin import ingest, planning
from reflexio_admin.models import (
    GenerationSettings,
    Interaction,
    Operation,
    OperationKind,
    OperationStatus,
    Request,
)
from reflexio_admin.status import Status
from tests.api import publish_body

pytestmark = pytest.mark.django_db


def set_batch_interval(value: int) -> None:
    config = GenerationSettings.load()
    config.batch_interval = value
    config.save()


def test_a_publish_stores_one_request_with_its_interactions_in_order(api):
    response = api.post(
        "publish_interaction",
        publish_body(
            "ana",
            "I work night shifts.",
            {"role": "Assistant", "content": "Noted."},
            source="chat",
            agent_version="support-v2",
        ),
    )

    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    request = Request.objects.get(request_id=body["request_id"])
    assert (request.user_id, request.source, request.agent_version) == (
        "ana",
        "chat",
        "support-v2",
    )
    assert request.session_id == "session-1"
    turns = list(request.interactions.order_by("id").values_list("role", "content"))
    assert turns == [("User", "I work night shifts."), ("Assistant", "Noted.")]
    assert set(
        Interaction.objects.values_list("user_id", "source", "agent_version")
    ) == {("ana", "chat", "support-v2")}


def test_an_empty_agent_version_is_stored_as_agent_v0(api):
    api.post("publish_interaction", publish_body("ana", agent_version=""))

    assert Request.objects.get().agent_version == "agent-v0"
    assert Interaction.objects.get().agent_version == "agent-v0"


def test_a_given_request_id_is_kept_and_a_repeat_is_refused_with_409(api):
    first = api.post("publish_interaction", publish_body(request_id="req-42"))
    again = api.post("publish_interaction", publish_body(request_id="req-42"))

    assert first.json()["request_id"] == "req-42"
    assert again.status_code == 409
    assert "req-42" in again.json()["msg"]
    assert Interaction.objects.count() == 1


def test_created_at_in_unix_seconds_is_kept_on_each_interaction(api):
    api.post(
        "publish_interaction",
        publish_body(
            "ana",
            {"content": "I live in Berlin.", "created_at": 1_700_000_000},
            {"content": "I work nights.", "created_at": 1_700_000_060},
        ),
    )

    stamps = [int(i.created_at.timestamp()) for i in Interaction.objects.order_by("id")]
    assert stamps == [1_700_000_000, 1_700_000_060]
    assert int(Request.objects.get().created_at.timestamp()) == 1_700_000_000


def test_tools_used_are_stored_with_their_name_and_data(api):
    api.post(
        "publish_interaction",
        publish_body(
            "ana",
            {
                "role": "Assistant",
                "content": "",
                "tools_used": [{"tool_name": "lookup", "tool_data": {"id": 7}}],
            },
        ),
    )

    assert Interaction.objects.get().tools_used == [
        {"tool_name": "lookup", "tool_data": {"id": 7}}
    ]


def test_empty_interactions_are_skipped_and_named_in_the_warnings(api):
    response = api.post(
        "publish_interaction",
        publish_body("ana", "I live in Berlin.", {"role": "Assistant", "content": " "}),
    )

    assert response.status_code == 200
    assert Interaction.objects.count() == 1
    assert (
        "skipped 1 empty interaction(s) that carried no content, at index(es) 1"
        in response.json()["warnings"]
    )


def test_a_publish_where_every_interaction_is_empty_is_refused(api):
    response = api.post(
        "publish_interaction", publish_body("ana", {"content": ""}, {"content": "  "})
    )

    assert response.status_code == 400
    assert "every interaction is empty" in response.json()["msg"]
    assert not Request.objects.exists()


def test_more_than_a_thousand_interactions_are_refused(api):
    response = api.post("publish_interaction", publish_body("ana", *(["hello"] * 1001)))

    assert response.status_code == 400
    assert response.json()["msg"].startswith("interaction_data_list:")
    assert "1000" in response.json()["msg"]


def test_content_over_a_million_characters_is_refused_naming_the_field(api, settings):
    settings.API_MAX_BODY_BYTES = 3_000_000

    response = api.post("publish_interaction", publish_body("ana", "x" * 1_000_001))

    assert response.status_code == 400
    assert "interaction_data_list[0].content" in response.json()["msg"]


def test_a_missing_session_id_and_user_id_are_both_reported(api):
    body = publish_body()
    del body["session_id"]
    body["user_id"] = "  "

    response = api.post("publish_interaction", body)

    assert response.status_code == 400
    msg = response.json()["msg"]
    assert "user_id: must not be empty" in msg
    assert "session_id: Field required" in msg


def test_a_role_of_a_thousand_characters_is_stored_whole(api):
    response = api.post(
        "publish_interaction",
        publish_body("ana", {"role": "R" * 1000, "content": "hi"}),
    )

    assert response.status_code == 200
    assert Interaction.objects.get().role == "R" * 1000
    assert not any("role" in w for w in response.json()["warnings"])


def test_a_role_over_a_thousand_characters_is_refused(api):
    response = api.post(
        "publish_interaction",
        publish_body("ana", {"role": "R" * 1001, "content": "hi"}),
    )

    assert response.status_code == 400
    assert "role" in response.json()["msg"]


def test_unknown_and_unstored_fields_come_back_as_warnings(api):
    body = publish_body(
        "ana",
        {"content": "hi", "Content": "typo", "shadow_content": "other answer"},
        forceExtraction=True,
    )

    warnings = api.post("publish_interaction", body).json()["warnings"]

    assert any("[0]: ignored unrecognised field(s) Content" in w for w in warnings)
    assert any("shadow_content not stored" in w for w in warnings)
    assert any(
        "publish request: ignored" in w and "forceExtraction" in w for w in warnings
    )


def test_evaluation_only_publishes_are_refused_rather_than_extracted(api):
    response = api.post("publish_interaction", publish_body(evaluation_only=True))

    assert response.status_code == 400
    assert "evaluation_only" in response.json()["msg"]


def test_invalid_json_is_a_400_with_a_message(api):
    response = api.post("publish_interaction", raw=b"{not json")

    assert response.status_code == 400
    assert set(response.json()) == {"success", "msg"}
    assert "not valid JSON" in response.json()["msg"]


def test_a_json_array_body_is_a_400(api):
    response = api.post("publish_interaction", raw=b"[1, 2]")

    assert response.status_code == 400
    assert response.json()["msg"] == "The request body must be a JSON object."


def test_a_body_over_the_limit_is_a_413_that_names_the_limit(api, settings):
    settings.API_MAX_BODY_BYTES = 1000

    response = api.post("publish_interaction", publish_body("ana", "x" * 2000))

    assert response.status_code == 413
    assert "limit is 1,000 bytes" in response.json()["msg"]
    assert not Request.objects.exists()


def test_a_get_is_a_405_in_json(api):
    response = api.get("publish_interaction")

    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert response.json()["success"] is False


def test_the_error_message_is_also_the_http_reason_phrase(api):
    response = api.post("publish_interaction", raw=b"[]")

    assert response.reason_phrase == "The request body must be a JSON object."


def test_batch_interval_new_interactions_queue_automatic_extraction(api):
    set_batch_interval(2)

    first = api.post("publish_interaction", publish_body("ana", "I live in Berlin."))
    second = api.post(
        "publish_interaction", publish_body("ana", "I work night shifts.")
    )

    assert first.json()["learning_status"] is None
    assert second.json()["learning_status"] == "deferred"
    kinds = set(Operation.objects.values_list("kind", flat=True))
    assert kinds == {OperationKind.AUTO_PROFILES, OperationKind.AUTO_PLAYBOOKS}
    current = set(
        UserProfile.objects.filter(user_id="ana", status=Status.CURRENT).values_list(
            "content", flat=True
        )
    )
    assert current == {"Lives in Berlin", "Works night shifts"}


def test_force_extraction_queues_extraction_for_a_single_new_interaction(api):
    set_batch_interval(50)

    response = api.post(
        "publish_interaction",
        publish_body("ana", "I live in Berlin.", force_extraction=True),
    )

    assert len(response.json()["extraction_operation_ids"]) == 2


def test_wait_for_response_reports_what_extraction_added(api):
    set_batch_interval(1)

    response = api.post(
        "publish_interaction",
        publish_body("ana", "I live in Berlin."),
        query={"wait_for_response": "true"},
    )

    body = response.json()
    assert body["learning_status"] == "done"
    assert body["profiles_added"] == 1
    assert body["playbooks_added"] == 0


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_publish_succeeds_and_warns_when_the_job_queue_is_down(api, settings):
    set_batch_interval(1)
    settings.QUEUE_BACKEND = "rq"
    settings.RQ_QUEUES = {"default": {"URL": "redis://127.0.0.1:9/0"}}

    response = api.post("publish_interaction", publish_body("ana", "I live in Berlin."))

    assert response.status_code == 200
    assert Interaction.objects.count() == 1
    warnings = response.json()["warnings"]
    assert any("could not be queued" in w for w in warnings)
    assert set(Operation.objects.values_list("status", flat=True)) == {
        OperationStatus.FAILED
    }


def test_a_publish_whose_extraction_check_fails_still_stores_and_warns(
    api, monkeypatch
):
    set_batch_interval(1)

    def broken(checks):
        raise DatabaseError("the check failed")

    monkeypatch.setattr(planning, "extractions_due", broken)

    response = api.post("publish_interaction", publish_body("ana", "I live in Berlin."))

    assert response.status_code == 200
    assert Interaction.objects.count() == 1
    warnings = response.json()["warnings"]
    assert sum("could not be queued" in w for w in warnings) == 2
    assert not Operation.objects.exists()


def test_the_publish_service_can_be_called_without_http():
    result = ingest.publish_interactions(
        user_id="ana",
        interactions=[{"content": "I live in Berlin."}, {"content": ""}],
        session_id="s1",
    )

    assert result.stored == 1
    assert result.skipped == 1
    assert Request.objects.get().request_id == result.request_id


def jsonl(*payloads) -> io.StringIO:
    return io.StringIO(
        "\n".join(p if isinstance(p, str) else json.dumps(p) for p in payloads)
    )


def test_an_import_loads_good_lines_and_reports_bad_ones_by_number():
    source = jsonl(
        publish_body("ana", "I live in Berlin.", request_id="r1"),
        "{broken",
        publish_body("bob", "I work nights.", "", request_id="r2"),
        "",
        publish_body("cy", {"content": ""}),
        publish_body("dan", "Hello", request_id="r1"),
    )

    result = ingest.import_jsonl(source, batch=2)

    assert (result.lines, result.requests, result.interactions) == (5, 2, 2)
    assert result.skipped_empty == 1
    assert [number for number, _ in result.bad_lines] == [2, 5, 6]
    reasons = dict(result.bad_lines)
    assert "Invalid JSON" in reasons[2] or "json" in reasons[2].lower()
    assert "every interaction is empty" in reasons[5]
    assert "r1" in reasons[6]
    assert set(Request.objects.values_list("user_id", flat=True)) == {"ana", "bob"}


def test_an_import_reports_a_request_id_repeated_inside_one_batch():
    source = jsonl(
        publish_body("ana", "one", request_id="same"),
        publish_body("ana", "two", request_id="same"),
    )

    result = ingest.import_jsonl(source)

    assert result.requests == 1
    assert result.bad_lines == [(2, "request_id 'same' repeats line 1")]


def test_an_import_reads_bytes_and_reports_lines_that_are_not_utf8(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_bytes(
        json.dumps(publish_body("ana", "Grüße aus Köln")).encode() + b"\n\xff\xfe\n"
    )

    result = ingest.import_jsonl(path)

    assert result.requests == 1
    assert result.bad_lines == [(2, "not valid UTF-8")]
    assert Interaction.objects.get().content == "Grüße aus Köln"


def test_an_import_queues_extraction_only_when_asked():
    set_batch_interval(1)
    source = jsonl(publish_body("ana", "I live in Berlin."))

    ingest.import_jsonl(source)
    assert not Operation.objects.exists()

    result = ingest.import_jsonl(
        jsonl(publish_body("bob", "I work nights.")), auto_extract=True
    )
    assert result.operations == 2


def test_text_with_a_nul_character_is_refused_naming_the_field(api):
    response = api.post("publish_interaction", publish_body("ana", "bad\x00text"))

    assert response.status_code == 400
    assert response.json()["msg"].startswith("interaction_data_list[0].content:")
    assert "NUL" in response.json()["msg"]


def test_an_import_reports_a_line_with_a_nul_character():
    source = jsonl(publish_body("ana", "fine"), publish_body("bob", "bad\x00text"))

    result = ingest.import_jsonl(source)

    assert result.requests == 1
    assert result.bad_lines == [
        (2, "interaction_data_list[0].content: must not contain NUL characters")
    ]


def test_a_body_nested_too_deeply_is_a_400(api):
    deep = b'{"user_id": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"

    response = api.post("publish_interaction", raw=deep)

    assert response.status_code == 400
    assert response.json()["msg"] == "The request body is nested too deeply."


def test_deeply_nested_tool_data_is_stored(api):
    data: dict = {}
    for _ in range(500):
        data = {"d": data}
    body = publish_body("ana", {"tools_used": [{"tool_name": "t", "tool_data": data}]})

    response = api.post("publish_interaction", body)

    assert response.status_code == 200
    assert Interaction.objects.get().tools_used[0]["tool_data"]["d"]["d"] is not None
