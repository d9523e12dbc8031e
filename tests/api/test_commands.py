import json
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from playbooks.models import PlaybookExtractor
from profiles.models import ProfileExtractor
from reflexio_admin import roles
from reflexio_admin.models import (
    ApiKey,
    AuditEvent,
    GenerationSettings,
    Request,
    hash_api_key,
)
from tests.api import ApiClient, publish_body

pytestmark = pytest.mark.django_db


def run(*args, **options) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def test_create_api_key_prints_a_working_key_as_its_last_line(client):
    User.objects.create_user("rita")

    out, _ = run("create_api_key", "rita", "--name", "ci", "--role", "viewer")

    raw = out.rstrip("\n").splitlines()[-1]
    key = ApiKey.objects.get()
    assert key.key_hash == hash_api_key(raw)
    assert key.name == "ci"
    assert ApiClient(client, raw).post(
        "get_profiles", {"user_id": "a"}
    ).status_code == (200)


def test_create_api_key_refuses_an_unknown_user_unless_told_to_create_it():
    with pytest.raises(CommandError, match="--create-user"):
        run("create_api_key", "ghost")
    assert not User.objects.filter(username="ghost").exists()

    run("create_api_key", "ghost", "--create-user", "--role", "reviewer")

    ghost = User.objects.get(username="ghost")
    assert not ghost.has_usable_password()
    assert ghost.has_perm(roles.RUN_OPERATIONS)


def test_create_api_key_warns_when_the_user_has_no_role():
    User.objects.create_user("rita")

    out, err = run("create_api_key", "rita")

    assert "has no role" in err
    assert out.rstrip("\n").splitlines()[-1].startswith("rfx_")


def test_import_interactions_loads_good_lines_and_lists_bad_ones(tmp_path):
    path = tmp_path / "dump.jsonl"
    path.write_text(
        "\n".join(
            [
                json.dumps(publish_body("ana", "I live in Berlin.")),
                "not json",
                json.dumps(publish_body("bob", "I work nights.")),
                json.dumps({"user_id": "cy"}),
            ]
        )
    )
    out, err = StringIO(), StringIO()

    with pytest.raises(CommandError, match="2 bad line"):
        call_command("import_interactions", str(path), stdout=out, stderr=err)

    assert "stored 2 request(s) with 2 interaction(s)" in out.getvalue()
    assert "line 2:" in err.getvalue()
    assert "line 4: " in err.getvalue()
    assert "session_id: Field required" in err.getvalue()
    assert set(Request.objects.values_list("user_id", flat=True)) == {"ana", "bob"}


def test_import_interactions_of_a_clean_file_succeeds(tmp_path):
    path = tmp_path / "dump.jsonl"
    path.write_text(json.dumps(publish_body("ana", "I live in Berlin.")) + "\n")

    out, err = run("import_interactions", str(path), "--batch", "1")

    assert "Read 1 line(s)" in out
    assert err == ""


def test_import_interactions_of_a_missing_file_says_so(tmp_path):
    with pytest.raises(CommandError, match="No such file"):
        run("import_interactions", str(tmp_path / "nope.jsonl"))


def test_dump_and_load_config_round_trip(tmp_path):
    path = tmp_path / "config.json"
    run("dump_config", "--output", str(path))
    saved = json.loads(path.read_text())
    GenerationSettings.objects.filter(pk=1).update(batch_size=3, batch_interval=7)
    ProfileExtractor.objects.update(definition_prompt="Something else")
    PlaybookExtractor.objects.update(min_cluster_size=9)

    out, _ = run("load_config", str(path))

    assert "Changed" in out
    assert "generation_settings: batch_size 3 -> 10" in out
    assert "definition_prompt changed" in out
    out_again, _ = run("load_config", str(path))
    assert "Nothing to change" in out_again
    stdout, _ = run("dump_config")
    assert json.loads(stdout) == saved
    assert AuditEvent.objects.filter(action="config_loaded").count() == 1


def test_load_config_adds_new_extractors_and_prunes_only_when_asked(tmp_path):
    config = json.loads(run("dump_config")[0])
    config["profile_extractors"] = [
        {"name": "preferences", "definition_prompt": "What the user prefers."}
    ]
    config["playbook_extractors"][0]["aggregation"]["min_cluster_size"] = 4
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))

    out, _ = run("load_config", str(path))
    assert "added profile extractor preferences" in out
    assert "kept profile extractor default_profile_extractor" in out
    assert PlaybookExtractor.objects.get().min_cluster_size == 4

    out, _ = run("load_config", str(path), "--prune")
    assert "removed profile extractor default_profile_extractor" in out
    assert list(ProfileExtractor.objects.values_list("name", flat=True)) == [
        "preferences"
    ]


def test_load_config_validates_the_whole_file_before_changing_anything(tmp_path):
    config = json.loads(run("dump_config")[0])
    config["generation_settings"]["batch_size"] = 50
    config["profile_extractors"][0]["name"] = "has spaces"
    config["playbook_extractors"][0]["aggregation"]["clustering_similarity"] = 2
    config["surprise"] = True
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))

    with pytest.raises(CommandError) as error:
        run("load_config", str(path))

    message = str(error.value)
    assert "profile_extractors[0].name" in message
    assert "clustering_similarity" in message
    assert "surprise" in message
    assert GenerationSettings.load().batch_size != 50


def test_load_config_dry_run_changes_nothing(tmp_path):
    config = json.loads(run("dump_config")[0])
    config["generation_settings"]["batch_interval"] = 99
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))

    out, _ = run("load_config", str(path), "--dry-run")

    assert "Would change 1 setting(s)" in out
    assert GenerationSettings.load().batch_interval != 99
    assert not AuditEvent.objects.filter(action="config_loaded").exists()
