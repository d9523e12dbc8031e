import pytest
from django.urls import reverse

from tests.console.conftest import HTMX, add_fact

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
