import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from reflexio_admin import roles
from tests.console.conftest import HTMX, ROLES, add_fact
from tests.factories import user_with_role

PAGES = [
    ("overview", {}),
    ("console:interaction_list", {}),
    ("console:operation_list", {}),
    ("console:settings", {}),
    ("console:audit_list", {}),
    ("profiles:profile_list", {}),
    ("profiles:review", {}),
    ("profiles:rerun", {}),
    ("profiles:manual", {}),
    ("profiles:upgrade", {}),
    ("profiles:downgrade", {}),
    ("playbooks:user_playbook_list", {}),
    ("playbooks:agent_playbook_list", {}),
    ("playbooks:rerun", {}),
    ("playbooks:manual", {}),
    ("playbooks:aggregate", {}),
    ("playbooks:upgrade", {}),
    ("playbooks:downgrade", {}),
    ("playbooks:review", {}),
]


@pytest.mark.parametrize(("name", "kwargs"), PAGES)
def test_every_page_renders_for_an_admin(admin_client_, chat, name, kwargs):
    add_fact("alice", "Likes tea")
    response = admin_client_.get(reverse(name, kwargs=kwargs))
    assert response.status_code == 200, response.content[:2000]
    response = admin_client_.get(reverse(name, kwargs=kwargs), **HTMX)
    assert response.status_code == 200


@pytest.mark.parametrize("role", ROLES)
def test_the_sidebar_names_the_role_of_whoever_is_signed_in(client_as, role):
    html = client_as(role).get(reverse("overview")).content.decode()

    assert f'<p class="who">{role}-user · {role}</p>' in html


def test_a_superuser_without_a_role_is_shown_as_an_admin(db):
    client = Client()
    client.force_login(
        get_user_model().objects.create_superuser("root", password="x" * 16)
    )

    html = client.get(reverse("overview")).content.decode()

    assert '<p class="who">root · admin</p>' in html


def test_naming_the_role_costs_no_query_once_permissions_are_checked(
    db, django_assert_num_queries
):
    user = get_user_model().objects.get(pk=user_with_role("sam", roles.SUPPORT).pk)
    user.has_perm(roles.VIEW_CONSOLE)  # what every console page checks first

    with django_assert_num_queries(0):
        role = roles.role_of(user)

    assert role == roles.SUPPORT
