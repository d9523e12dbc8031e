"""Every console form, fed generated hostile input: never a 500, never half a write.

The fields of each form are read from the page that shows it (names, and the
values its selects and hidden inputs offer), so that a form added later is
covered without touching this file. Each example posts those fields with
values drawn from ordinary, offered and hostile values (markup, template
syntax, SQL, NUL, oversized text, bad dates and numbers), as a plain and as an
htmx request. A GET never writes; a refused POST (a 4xx, or the form shown
again with errors) leaves every stored row exactly as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from playbooks.models import PlaybookExtractor
from profiles.models import ProfileExtractor
from reflexio_admin.audit import audit_record
from reflexio_admin.models import ApiKey
from tests.bad_input.strategies import (
    HOSTILE_NUMBERS,
    LONG_TEXT,
    ORDINARY_TEXT,
    fingerprint,
    hostile_text,
)
from tests.factories import user_with_role
from tests.urlwalk import console_routes

pytestmark = pytest.mark.django_db

POST_EXAMPLES = 25
NO_FORM_EXAMPLES = 5
GET_EXAMPLES = 10

ROUTES = {route.name: route for route in console_routes()}

# Views that only take POST, and the page whose form posts to them.
HOST_PAGES = {
    "console:apikey_revoke": "console:settings",
    "console:user_role_edit": "console:settings",
    "console:operation_cancel": "console:operation_detail",
    "console:operation_retry": "console:operation_detail",
    "playbooks:agent_playbook_approve": "playbooks:agent_playbook_list",
    "playbooks:agent_playbook_reject": "playbooks:agent_playbook_list",
    "profiles:review_decide": "profiles:review",
    "profiles:review_upgrade": "profiles:review",
    "playbooks:review_decide": "playbooks:review",
    "playbooks:review_upgrade": "playbooks:review",
}
# Query strings that make a page show its forms (a review needs a scope).
PAGE_QUERY = {
    "profiles:review": "?user_id=ana",
    "playbooks:review": "?agent_version=agent-v0",
    "profiles:upgrade": "?user_id=ana",
    "profiles:downgrade": "?user_id=ana",
    "playbooks:upgrade": "?agent_version=agent-v0",
    "playbooks:downgrade": "?agent_version=agent-v0",
    "playbooks:aggregate": (
        "?agent_version=agent-v0&playbook_name=default_playbook_extractor"
    ),
}
# Forms that only show when there is something to act on (an active run to
# cancel, pending items to decide, archived ones to restore): when the page
# shows none, these fields are posted instead.
SCOPE_FIELDS = {
    name: set()
    for name in (
        "user_id",
        "extractor",
        "agent_version",
        "playbook_name",
        "user_ids",
        "digest",
        "confirm_stale",
        "decision-1",
        "next",
    )
}
SOMETIMES_SHOWN = set(HOST_PAGES) | {
    "profiles:upgrade",
    "profiles:downgrade",
    "playbooks:upgrade",
    "playbooks:downgrade",
}
# Signing in and out is about sessions, not stored data; tests/security has it.
NOT_FORMS = {"logout"}

ERROR_MARKERS = ("errorlist", "form-errors", "message-error", 'role="alert"')


@dataclass
class Form:
    method: str
    action: str
    fields: dict[str, set[str]] = field(default_factory=dict)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        found = dict(attrs)
        if tag == "form":
            method = (found.get("method") or "get").lower()
            action = found.get("action") or found.get("hx-post") or ""
            self.forms.append(Form(method, action))
            return
        if found.get("hx-post"):
            # A button that posts by itself (htmx), outside any form.
            self.forms.append(Form("post", found["hx-post"]))
        if not self.forms:
            return
        name = found.get("name")
        if tag in {"input", "textarea", "select"} and name:
            values = self.forms[-1].fields.setdefault(name, set())
            if found.get("value"):
                values.add(found["value"])
            if tag == "select":
                self._select = name
        if tag == "option" and self._select and found.get("value") is not None:
            self.forms[-1].fields[self._select].add(found["value"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def forms_on(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


def _fields(
    forms: list[Form], method: str, path: str | None
) -> dict[str, set[str]] | None:
    """Fields of the page's forms of `method` (sent to `path`, if given).

    None when the page has no such form at all.
    """
    merged: dict[str, set[str]] | None = None
    for form in forms:
        if form.method != method:
            continue
        if path and form.action and urlsplit(form.action).path != path:
            continue
        merged = merged if merged is not None else {}
        for name, values in form.fields.items():
            if name != "csrfmiddlewaretoken":
                merged.setdefault(name, set()).update(values)
    return merged


def _encodable(text: str) -> str:
    """A browser cannot send a lone surrogate; it sends U+FFFD or bad bytes."""
    return text.encode("utf-8", "replace").decode("utf-8")


def _value(offered: set[str]) -> st.SearchStrategy:
    choices = sorted(offered) or ["1"]
    one = st.one_of(
        st.sampled_from(choices),
        st.sampled_from(choices),
        st.sampled_from(ORDINARY_TEXT),
        hostile_text,
        LONG_TEXT,
        st.sampled_from(HOSTILE_NUMBERS).map(str),
        st.datetimes().map(lambda moment: moment.isoformat()),
    ).map(_encodable)
    return st.one_of(one, st.lists(one, min_size=2, max_size=3))


def form_data(fields: dict[str, set[str]]) -> st.SearchStrategy[dict]:
    """Every field of the form, each sometimes left out, plus a stray one."""
    return st.fixed_dictionaries(
        {},
        optional={name: _value(values) for name, values in fields.items()}
        | {"unexpected": _value(set())},
    )


@pytest.fixture
def world(stored) -> dict:
    """What the URLs need: an admin, and one stored row behind each id."""
    admin = User.objects.create_superuser("root", password="x")
    other = user_with_role("vera", "viewer")
    key, _ = ApiKey.issue(user=other, name="vera's key")
    event = audit_record(action="profile_updated", scope={"user_id": "ana"})
    pk_by_prefix = {
        "profiles:profile_": stored["pk"][0],
        "playbooks:agent_playbook_": stored["agent_playbook"][0],
        "console:operation_": stored["operation"][0],
        "console:profile_extractor_": ProfileExtractor.objects.first().pk,
        "console:playbook_extractor_": PlaybookExtractor.objects.first().pk,
        "console:apikey_": key.pk,
        "console:user_role_": other.pk,
        "console:audit_": event.pk,
    }
    return {"admin": admin, "pk_by_prefix": pk_by_prefix}


def _url(name: str, world: dict) -> str:
    pk = next(
        (pk for prefix, pk in world["pk_by_prefix"].items() if name.startswith(prefix)),
        1,
    )
    return ROUTES[name].url({"pk": pk, "user_id": "ana"})


def _refused(response) -> bool:
    if response.status_code >= 400:
        return True
    html = response.content.decode(errors="replace")
    return response.status_code == 200 and any(m in html for m in ERROR_MARKERS)


def _hypothesis(examples: int):
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )


def _check(response, before: str, *, method: str) -> None:
    assert response.status_code < 500, response.content[:500]
    if response.status_code == 405:
        # A wrong method: the Allow header names the right one.
        assert response["Allow"]
    elif response.status_code >= 400:
        assert response.content.strip(), "a refusal without a message"
    if method == "GET" or _refused(response):
        assert fingerprint() == before, f"a refused {method} changed stored rows"


POST_ROUTES = sorted(name for name in ROUTES if name not in NOT_FORMS | {"login"})


@pytest.mark.parametrize("name", POST_ROUTES)
def test_a_console_post_answers_hostile_input_without_a_500_or_a_partial_write(
    world, name
):
    client = Client()
    client.force_login(world["admin"])
    url = _url(name, world)
    host = HOST_PAGES.get(name, name)
    page = client.get(_url(host, world) + PAGE_QUERY.get(host, ""))
    fields = _fields(forms_on(page.content.decode()), "post", urlsplit(url).path)
    examples = POST_EXAMPLES
    if fields is None:
        # No form of its own here (or none shown now): hostile posts still
        # must neither fail nor write; fewer examples do for that.
        fields = SCOPE_FIELDS
        examples = POST_EXAMPLES if name in SOMETIMES_SHOWN else NO_FORM_EXAMPLES

    @_hypothesis(examples)
    @given(data=form_data(fields), htmx=st.booleans())
    def run(data, htmx):
        client.force_login(world["admin"])
        headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
        before = fingerprint()

        response = client.post(url, data, **headers)

        _check(response, before, method="POST")

    run()


GET_ROUTES = sorted(name for name in ROUTES if name not in NOT_FORMS)


@pytest.mark.parametrize("name", GET_ROUTES)
def test_a_console_page_answers_hostile_query_strings_without_a_500(world, name):
    client = Client()
    client.force_login(world["admin"])
    url = _url(name, world)
    page = client.get(url + PAGE_QUERY.get(name, ""))
    if page.status_code == 405:
        # Only a form posts here: a GET is refused and changes nothing.
        before = fingerprint()
        _check(client.get(url, {"user_id": "ana"}), before, method="GET")
        return
    fields = _fields(forms_on(page.content.decode()), "get", None) or {}
    fields |= {name: set() for name in ("user_id", "status", "after", "q", "next")}

    @_hypothesis(GET_EXAMPLES)
    @given(data=form_data(fields), htmx=st.booleans())
    def run(data, htmx):
        headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
        before = fingerprint()

        response = client.get(url, data, **headers)

        _check(response, before, method="GET")

    run()


def test_the_login_form_answers_hostile_input_with_a_form_error():
    client = Client()
    fields = {"username": {"root"}, "password": {"x"}, "next": {"/"}}

    @_hypothesis(POST_EXAMPLES)
    @given(data=form_data(fields))
    def run(data):
        response = client.post("/login/", data)

        html = response.content.decode()
        assert response.status_code in {200, 302, 400}
        if response.status_code == 200:
            assert "form-errors" in html or "errorlist" in html
        elif response.status_code == 400:
            assert "NUL" in html
        else:
            # Only a real sign-in gets through, and it lands on this site.
            assert response["Location"].startswith("/")
            client.logout()

    run()


def test_a_form_post_of_many_megabytes_is_refused_with_a_4xx(world):
    client = Client()
    client.force_login(world["admin"])
    before = fingerprint()

    response = client.post(
        ROUTES["profiles:profile_add"].url({"user_id": "ana"}),
        {"content": "x" * 6_000_000, "status": "current"},
    )

    assert response.status_code == 400
    assert fingerprint() == before


def test_a_form_post_that_is_not_utf8_or_not_a_form_is_answered_without_a_500(world):
    client = Client()
    client.force_login(world["admin"])
    url = ROUTES["profiles:profile_add"].url({"user_id": "ana"})
    before = fingerprint()

    bodies = [
        (b"content=\xff\xfe%ff%fe&status=current", "application/x-www-form-urlencoded"),
        (b"--x\r\nContent-Disposition: form-data\r\n\r\n", "multipart/form-data"),
        (b'{"content": "x"}', "application/json"),
    ]
    for body, content_type in bodies:
        response = client.post(url, body, content_type=content_type)

        assert response.status_code < 500, content_type

    assert fingerprint() == before
