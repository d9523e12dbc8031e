"""Support staff fix one user's facts; every change is audited."""

import pytest
from django.urls import reverse

from profiles.models import UserProfile
from reflexio_admin import roles
from reflexio_admin.models import AuditEvent, Operation, OperationKind
from tests.console.conftest import HTMX, add_fact


@pytest.fixture
def support(client_as):
    return client_as(roles.SUPPORT)


def test_editing_a_fact_in_place_saves_it_and_audits_before_and_after(support, db):
    fact = add_fact("alice", "Lives in Paris")

    form = support.get(reverse("profiles:profile_edit", args=[fact.pk]), **HTMX)
    saved = support.post(
        reverse("profiles:profile_edit", args=[fact.pk]),
        {"content": "Lives in Lyon", "custom_features": ""},
        **HTMX,
    )

    fact.refresh_from_db()
    event = AuditEvent.objects.get(action="profile_updated")
    assert "<textarea" in form.content.decode()
    assert (
        saved.content.decode()
        .strip()
        .startswith(f'<li class="item" id="profile-{fact.pk}"')
    )
    assert "Lives in Lyon" in saved.content.decode()
    assert fact.content == "Lives in Lyon"
    assert event.before["content"] == "Lives in Paris"
    assert event.after["content"] == "Lives in Lyon"
    assert event.actor_name == "support-user"
    assert event.ip_address == "127.0.0.1"


def test_an_empty_fact_is_refused_next_to_the_field(support, db):
    fact = add_fact("alice", "Lives in Paris")

    response = support.post(
        reverse("profiles:profile_edit", args=[fact.pk]), {"content": "  "}, **HTMX
    )

    assert "This field is required." in response.content.decode()
    assert 'id="id_content_error"' in response.content.decode()
    assert not AuditEvent.objects.filter(action="profile_updated").exists()


def test_custom_features_must_be_a_json_object(support, db):
    fact = add_fact("alice", "Lives in Paris")

    response = support.post(
        reverse("profiles:profile_edit", args=[fact.pk]),
        {"content": "Lives in Paris", "custom_features": "[1, 2"},
    )

    assert "This is not valid JSON" in response.content.decode()


def test_deleting_a_fact_removes_it_and_keeps_its_text_in_the_audit_log(support, db):
    fact = add_fact("alice", "Lives in Paris")

    response = support.post(reverse("profiles:profile_delete", args=[fact.pk]), **HTMX)

    event = AuditEvent.objects.get(action="profile_deleted")
    assert not UserProfile.objects.filter(pk=fact.pk).exists()
    assert 'id="messages"' in response.content.decode()
    assert 'hx-swap-oob="true"' in response.content.decode()
    assert event.before["content"] == "Lives in Paris"
    assert event.after is None


def test_delete_asks_for_confirmation_on_a_plain_page(support, db):
    fact = add_fact("alice", "Lives in Paris")

    response = support.get(reverse("profiles:profile_delete", args=[fact.pk]))

    assert "Delete fact #" in response.content.decode()
    assert UserProfile.objects.filter(pk=fact.pk).exists()


def test_adding_a_fact_shows_it_on_the_user_page_and_audits_it(support, db):
    response = support.post(
        reverse("profiles:profile_add", args=["alice"]),
        {
            "content": "Has a cat",
            "status": "current",
            "extractor_name": "default_profile_extractor",
            "time_to_live": "one_year",
            "source": "support",
            "custom_features": '{"ticket": 42}',
        },
        **HTMX,
    )

    fact = UserProfile.objects.get(user_id="alice")
    event = AuditEvent.objects.get(action="profile_added")
    assert response.content.decode().strip().startswith('<div id="profile-sections">')
    assert "Has a cat" in response.content.decode()
    assert fact.custom_features == {"ticket": 42}
    assert fact.time_to_live == "one_year"
    assert event.after["content"] == "Has a cat"


@pytest.mark.parametrize("user_id", ["team/add", "add", "team/ana/"])
def test_any_user_id_has_a_user_page_and_takes_new_facts(support, db, user_id):
    add_fact(user_id, "Lives in Paris")

    page = support.get(reverse("profiles:user_detail", args=[user_id]))
    support.post(
        reverse("profiles:profile_add", args=[user_id]),
        {
            "content": "Has a cat",
            "status": "current",
            "extractor_name": "default_profile_extractor",
            "time_to_live": "infinity",
        },
    )

    assert page.status_code == 200
    assert page.context["user_id"] == user_id
    assert "Lives in Paris" in page.content.decode()
    assert set(
        UserProfile.objects.filter(user_id=user_id).values_list("content", flat=True)
    ) == {"Lives in Paris", "Has a cat"}


def test_adding_an_empty_fact_keeps_the_form_open_with_the_error(support, db):
    response = support.post(
        reverse("profiles:profile_add", args=["alice"]),
        {"content": "", "status": "current", "time_to_live": "infinity"},
        **HTMX,
    )

    html = response.content.decode()
    assert 'id="id_content_error"' in html
    assert '<details class="card" open>' in html


def test_regenerating_a_user_runs_manual_generation_for_that_user(support, chat):
    response = support.post(reverse("profiles:manual"), {"user_id": "alice"}, **HTMX)

    operation = Operation.objects.get()
    assert operation.kind == OperationKind.MANUAL_PROFILES
    assert operation.params["user_id"] == "alice"
    assert operation.status == "completed"
    assert "<progress" in response.content.decode()
    assert UserProfile.objects.filter(user_id="alice", status="current").exists()


def test_the_user_page_shows_the_support_actions(support, db):
    add_fact("alice", "Lives in Paris")
    add_fact("alice", "Lives in Rome", "pending")

    html = support.get(reverse("profiles:user_detail", args=["alice"])).content.decode()

    assert "Regenerate this user" in html
    assert "Add a profile fact" in html
    assert html.count(">Edit</a>") == 2
    assert "Rerun for this user" not in html


def test_a_viewer_sees_no_edit_buttons(client_as, db):
    add_fact("alice", "Lives in Paris")

    html = (
        client_as(roles.VIEWER)
        .get(reverse("profiles:user_detail", args=["alice"]))
        .content.decode()
    )

    assert ">Edit</a>" not in html
    assert "Regenerate this user" not in html


def test_a_message_shows_once_on_the_next_page(support, db):
    fact = add_fact("alice", "Lives in Paris")
    add_fact("alice", "Likes tea")

    response = support.post(
        reverse("profiles:profile_edit", args=[fact.pk]),
        {"content": "Lives in Lyon"},
        follow=True,
    )

    assert response.content.decode().count("Profile fact saved.") == 1


def test_the_audit_log_shows_what_an_edit_changed(support, db):
    fact = add_fact("alice", "Lives in Paris")
    support.post(
        reverse("profiles:profile_edit", args=[fact.pk]), {"content": "Lives in Lyon"}
    )

    html = support.get(
        reverse("console:audit_list"), {"action": "profile_updated"}
    ).content.decode()

    assert "<del>Lives in Paris</del> → <ins>Lives in Lyon</ins>" in html
    assert "extractor_name" not in html  # Unchanged fields are left out.


def test_the_audit_log_filters_by_actor_and_user(support, client_as, db):
    add_fact("alice", "Lives in Paris")
    fact = add_fact("bob", "Lives in Rome")
    support.post(reverse("profiles:profile_delete", args=[fact.pk]))

    by_actor = support.get(reverse("console:audit_list"), {"actor": "support-user"})
    by_user = support.get(reverse("console:audit_list"), {"user_id": "alice"})

    actor_actions = {e.action for e in by_actor.context["page"].items}
    assert "profile_deleted" in actor_actions
    assert "profile_added" not in actor_actions  # Added by the system.
    assert [e.action for e in by_user.context["page"].items] == ["profile_added"]
