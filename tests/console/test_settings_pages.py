"""Settings: generation settings, extractors, API keys and roles (admins only)."""

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from playbooks.models import PlaybookExtractor
from profiles.models import ProfileExtractor
from reflexio_admin import roles
from reflexio_admin.models import ApiKey, AuditEvent, GenerationSettings, hash_api_key
from tests.factories import user_with_role


@pytest.fixture
def admin(client_as):
    return client_as(roles.ADMIN)


def test_the_settings_page_lists_everything_an_admin_configures(admin, db):
    html = admin.get(reverse("console:settings")).content.decode()

    assert 'name="batch_size"' in html
    assert 'name="chat_model"' in html and 'name="embedding_model"' in html
    assert "default_profile_extractor" in html
    assert "default_playbook_extractor" in html
    assert "Create an API key" in html
    assert "Users and roles" in html


def test_generation_settings_are_saved_and_audited(admin, db):
    response = admin.post(
        reverse("console:generation_settings_edit"),
        {
            "batch_size": "25",
            "batch_interval": "5",
            "chat_model": "gpt-4.1-mini",
            "embedding_model": "",
        },
    )

    config = GenerationSettings.load()
    event = AuditEvent.objects.get(action="settings_updated")
    assert response["Location"] == reverse("console:settings")
    assert (config.batch_size, config.batch_interval, config.chat_model) == (
        25,
        5,
        "gpt-4.1-mini",
    )
    assert event.before["batch_size"] == 10
    assert event.after["batch_size"] == 25


def test_a_bad_batch_size_is_shown_next_to_the_field(admin, db):
    response = admin.post(
        reverse("console:generation_settings_edit"),
        {"batch_size": "0", "batch_interval": "5"},
    )

    assert 'id="id_batch_size_error"' in response.content.decode()
    assert GenerationSettings.load().batch_size == 10


def test_a_profile_extractor_is_created_with_its_sources(admin, db):
    response = admin.post(
        reverse("console:profile_extractor_create"),
        {
            "name": "preferences",
            "definition_prompt": "What the user prefers.",
            "enabled_sources": "chat, email",
            "allow_manual_trigger": "on",
            "enabled": "on",
        },
    )

    extractor = ProfileExtractor.objects.get(name="preferences")
    assert response.status_code == 302
    assert extractor.enabled_sources == ["chat", "email"]
    assert extractor.allow_manual_trigger
    assert (
        AuditEvent.objects.get(action="extractor_created").after["name"]
        == "preferences"
    )


def test_a_playbook_extractor_keeps_its_aggregation_settings(admin, db):
    extractor = PlaybookExtractor.objects.get()

    form = admin.get(reverse("console:playbook_extractor_edit", args=[extractor.pk]))
    admin.post(
        reverse("console:playbook_extractor_edit", args=[extractor.pk]),
        {
            "name": extractor.name,
            "definition_prompt": extractor.definition_prompt,
            "enabled_sources": "",
            "enabled": "on",
            "aggregation_enabled": "on",
            "min_cluster_size": "3",
            "clustering_similarity": "0.8",
        },
    )

    extractor.refresh_from_db()
    assert 'name="clustering_similarity"' in form.content.decode()
    assert (extractor.min_cluster_size, extractor.clustering_similarity) == (3, 0.8)
    assert extractor.allow_manual_trigger is False
    assert (
        AuditEvent.objects.get(action="extractor_updated").before["min_cluster_size"]
        == 2
    )


def test_a_similarity_above_one_is_refused(admin, db):
    extractor = PlaybookExtractor.objects.get()

    response = admin.post(
        reverse("console:playbook_extractor_edit", args=[extractor.pk]),
        {
            "name": extractor.name,
            "definition_prompt": "x",
            "min_cluster_size": "2",
            "clustering_similarity": "1.5",
        },
    )

    assert 'id="id_clustering_similarity_error"' in response.content.decode()


def test_an_api_key_is_shown_once_and_stored_hashed(admin, db):
    response = admin.post(
        reverse("console:apikey_create"),
        {"name": "agent", "user": User.objects.get(username="admin-user").pk},
    )

    raw = response.context["raw"]
    key = ApiKey.objects.get()
    assert raw in response.content.decode()
    assert "shown only once" in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    assert key.key_hash == hash_api_key(raw)
    assert raw not in str(ApiKey.objects.values().get())
    settings_page = admin.get(reverse("console:settings")).content.decode()
    assert raw not in settings_page
    assert key.prefix in settings_page
    assert (
        AuditEvent.objects.get(action="api_key_created").scope["api_key"] == key.prefix
    )


def test_a_key_can_be_made_for_another_user(admin, db):
    other = user_with_role("bot", roles.REVIEWER)

    admin.post(reverse("console:apikey_create"), {"name": "ci", "user": other.pk})

    assert ApiKey.objects.get().user == other


def test_revoking_a_key_stops_it_and_is_audited(admin, db):
    key, _ = ApiKey.issue(user=user_with_role("bot", roles.REVIEWER), name="ci")

    response = admin.post(reverse("console:apikey_revoke", args=[key.pk]), follow=True)

    key.refresh_from_db()
    assert key.revoked_at is not None
    assert f"The key {key.prefix}… is revoked." in response.content.decode()
    assert AuditEvent.objects.filter(action="api_key_revoked").count() == 1


def test_an_admin_sets_a_users_role(admin, db):
    person = user_with_role("pat", roles.VIEWER)

    admin.post(reverse("console:user_role_edit", args=[person.pk]), {"role": "support"})

    assert list(person.groups.values_list("name", flat=True)) == ["support"]
    event = AuditEvent.objects.get(action="user_role_changed")
    assert (event.before, event.after) == (
        {"roles": ["viewer"]},
        {"roles": ["support"]},
    )
