"""Upgrade and downgrade: a confirmation with exact counts, then the change."""

from django.urls import reverse

from playbooks import services as playbook_services
from profiles.models import UserProfile
from reflexio_admin.models import AuditEvent
from tests.console.conftest import HTMX, add_fact


def _two_users_with_pending() -> None:
    for n in range(2):
        add_fact("u1", f"current {n}", "current")
    for n in range(3):
        add_fact("u1", f"pending {n}", "pending")
    add_fact("u1", "archived 0", "archived")
    add_fact("u2", "pending for u2", "pending")
    add_fact("u3", "current for u3", "current")


def _statuses(user_id: str) -> dict[str, int]:
    rows = UserProfile.objects.filter(user_id=user_id)
    return {
        status: rows.filter(status=status).count()
        for status in ("current", "pending", "archived")
    }


def test_the_confirmation_states_exactly_what_changes(reviewer, db):
    _two_users_with_pending()

    response = reviewer.get(reverse("profiles:upgrade"))

    html = response.content.decode()
    assert (
        "2 users: 4 pending become current, 2 current are archived, "
        "1 archived are deleted"
    ) in html
    assert "everything" in html
    assert _statuses("u1") == {"current": 2, "pending": 3, "archived": 1}


def test_one_users_confirmation_counts_only_that_user(reviewer, db):
    _two_users_with_pending()

    response = reviewer.get(reverse("profiles:upgrade"), {"user_id": "u2"}, **HTMX)

    html = response.content.decode()
    assert html.strip().startswith('<div class="card confirm" id="confirm-panel">')
    assert "1 user: 1 pending become current, 0 current are archived" in html
    assert "user_id = u2" in html


def test_upgrading_one_user_changes_only_that_user(reviewer, db):
    _two_users_with_pending()

    response = reviewer.post(
        reverse("profiles:upgrade"), {"user_id": "u1", "next": "/profiles/users/u1/"}
    )

    assert response["Location"] == "/profiles/users/u1/"
    assert _statuses("u1") == {"current": 3, "pending": 0, "archived": 2}
    assert _statuses("u2") == {"current": 0, "pending": 1, "archived": 0}
    page = reviewer.get(response["Location"]).content.decode()
    assert (
        "Upgraded 1 user(s): 3 pending became current, 2 current were archived, "
        "1 archived were deleted."
    ) in page


def test_an_htmx_upgrade_sends_the_page_back_to_the_review(reviewer, db):
    _two_users_with_pending()

    response = reviewer.post(
        reverse("profiles:upgrade"),
        {"user_id": "u2"},
        HTTP_HX_CURRENT_URL="http://testserver/profiles/review/?user_id=u2",
        **HTMX,
    )

    assert response["HX-Redirect"] == "/profiles/review/?user_id=u2"
    assert _statuses("u2")["current"] == 1


def test_a_second_upgrade_changes_nothing_and_says_so(reviewer, db):
    _two_users_with_pending()
    reviewer.post(reverse("profiles:upgrade"), {"user_id": "u2"})

    response = reviewer.post(
        reverse("profiles:upgrade"), {"user_id": "u2"}, follow=True
    )

    assert "Nothing changed: no pending profiles in scope." in response.content.decode()
    assert AuditEvent.objects.filter(action="upgrade_profiles").count() == 1


def test_a_next_pointing_elsewhere_is_ignored(reviewer, db):
    _two_users_with_pending()

    response = reviewer.post(
        reverse("profiles:upgrade"), {"user_id": "u2", "next": "https://evil.example/"}
    )

    assert response["Location"] == "/profiles/review/?user_id=u2"


def test_nothing_to_upgrade_offers_no_button(reviewer, db):
    add_fact("u3", "current for u3", "current")

    html = reviewer.get(reverse("profiles:upgrade"), {"user_id": "u3"}).content.decode()

    assert "nothing to upgrade" in html
    assert 'type="submit" class="btn btn-primary">Upgrade<' not in html


def test_downgrade_states_and_restores_what_was_archived(reviewer, db):
    _two_users_with_pending()
    reviewer.post(reverse("profiles:upgrade"), {"user_id": "u1"})

    confirm = reviewer.get(reverse("profiles:downgrade"), {"user_id": "u1"})
    reviewer.post(reverse("profiles:downgrade"), {"user_id": "u1"})

    assert (
        "1 user: 2 archived become current again, 3 current are archived"
        in confirm.content.decode()
    )
    assert _statuses("u1") == {"current": 2, "pending": 0, "archived": 3}


def _playbook(user_id: str, status: str, content: str) -> None:
    playbook_services.user_playbook_add(
        user_id=user_id,
        agent_version="v9",
        playbook_name="default_playbook_extractor",
        content=content,
        status=status,
    )


def test_user_playbooks_upgrade_with_exact_counts(reviewer, db):
    _playbook("u1", "current", "old rule")
    _playbook("u1", "pending", "new rule")
    _playbook("u1", "pending", "another rule")

    confirm = reviewer.get(reverse("playbooks:upgrade"), {"agent_version": "v9"})
    response = reviewer.post(
        reverse("playbooks:upgrade"), {"agent_version": "v9"}, follow=True
    )

    assert (
        "1 user: 2 pending become current, 1 current are archived"
        in confirm.content.decode()
    )
    assert "Upgraded 1 user(s): 2 pending became current" in response.content.decode()


def test_the_user_page_offers_the_upgrade_of_that_user(reviewer, db):
    _two_users_with_pending()

    html = reviewer.get(reverse("profiles:user_detail", args=["u1"])).content.decode()

    assert "3 pending become current, 2 current are archived" in html
    assert 'id="upgrade-user" href="/profiles/upgrade/?user_id=u1&amp;next=' in html
