"""A page is a full page on a plain load and a fragment for htmx swaps."""

import pytest
from django.urls import reverse

from tests.console.conftest import HTMX, add_fact

LIST_PAGES = [
    ("profiles:profile_list", 'id="profile-results"'),
    ("playbooks:user_playbook_list", 'id="playbook-results"'),
    ("playbooks:agent_playbook_list", 'id="agent-playbook-results"'),
    ("console:interaction_list", 'id="interaction-results"'),
    ("console:operation_list", 'id="operation-results"'),
    ("console:audit_list", 'id="audit-results"'),
]


@pytest.mark.parametrize(("name", "marker"), LIST_PAGES)
def test_a_plain_request_gets_the_whole_page(reviewer, chat, name, marker):
    response = reviewer.get(reverse(name))

    html = response.content.decode()
    assert response.status_code == 200
    assert html.startswith("<!doctype html>")
    assert marker in html
    assert "HX-Request" in response["Vary"]


@pytest.mark.parametrize(("name", "marker"), LIST_PAGES)
def test_an_htmx_request_gets_only_the_fragment(reviewer, chat, name, marker):
    response = reviewer.get(reverse(name), **HTMX)

    html = response.content.decode().strip()
    assert response.status_code == 200
    assert html.startswith(f"<div {marker}")
    assert "<html" not in html
    assert "HX-Request" in response["Vary"]


@pytest.mark.parametrize(("name", "marker"), LIST_PAGES)
def test_a_boosted_request_gets_the_whole_page(reviewer, chat, name, marker):
    response = reviewer.get(reverse(name), HTTP_HX_BOOSTED="true", **HTMX)

    assert response.content.decode().startswith("<!doctype html>")


def test_a_history_restore_gets_the_whole_page(reviewer, chat):
    response = reviewer.get(
        reverse("profiles:profile_list"),
        HTTP_HX_HISTORY_RESTORE_REQUEST="true",
        **HTMX,
    )

    assert response.content.decode().startswith("<!doctype html>")


def test_the_vary_header_keeps_other_values(reviewer, chat):
    response = reviewer.get(reverse("profiles:profile_list"), **HTMX)

    vary = {part.strip() for part in response["Vary"].split(",")}
    assert {"HX-Request", "Cookie"} <= vary


def test_a_user_page_swaps_its_profile_sections(reviewer, chat):
    add_fact("alice", "Likes tea")

    page = reviewer.get(reverse("profiles:user_detail", args=["alice"]))
    fragment = reviewer.get(reverse("profiles:user_detail", args=["alice"]), **HTMX)

    assert page.content.decode().startswith("<!doctype html>")
    assert fragment.content.decode().strip().startswith('<div id="profile-sections">')
    assert "Likes tea" in fragment.content.decode()


def test_a_fact_loads_as_an_item_or_sends_to_its_user_page(reviewer, chat):
    fact = add_fact("alice", "Likes tea")
    url = reverse("profiles:profile_detail", args=[fact.pk])

    plain = reviewer.get(url)
    fragment = reviewer.get(url, **HTMX)

    assert plain.status_code == 302
    assert plain["Location"].endswith(f"/profiles/users/alice/#profile-{fact.pk}")
    assert (
        fragment.content.decode()
        .strip()
        .startswith(f'<li class="item" id="profile-{fact.pk}"')
    )
    assert "HX-Request" in fragment["Vary"]


def test_filters_are_kept_in_the_links_of_the_page(reviewer, chat):
    for n in range(55):
        add_fact("alice", f"Fact number {n}")

    response = reviewer.get(
        reverse("profiles:profile_list"), {"user_id": "alice", "q": "number"}
    )

    html = response.content.decode()
    assert "?user_id=alice&amp;q=number&amp;after=" in html
    assert 'href="?user_id=alice&amp;q=number&amp;status=pending"' in html
    assert 'value="alice"' in html


def test_the_next_page_continues_below_the_cursor(reviewer, chat):
    facts = [add_fact("alice", f"Fact number {n}") for n in range(55)]

    first = reviewer.get(reverse("profiles:profile_list"), {"user_id": "alice"})
    second = reviewer.get(
        reverse("profiles:profile_list"),
        {"user_id": "alice", "after": first.context["page"].items[-1].pk},
    )

    first_ids = [p.pk for p in first.context["page"].items]
    second_ids = [p.pk for p in second.context["page"].items]
    assert first_ids == [f.pk for f in reversed(facts)][:50]
    assert second_ids == [f.pk for f in reversed(facts)][50:]
    assert second.context["page"].next_url is None
