"""Hypothesis strategies for hostile input, and a fingerprint of what is stored.

`from_schema` turns the JSON schema of an API request model into a strategy
that mostly follows the schema (so examples reach past validation into the
services) and, at every level, sometimes puts something else there: the wrong
type, an oversized or hostile string, a bad date, deep nesting.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db import connection
from hypothesis import strategies as st

# Values that have broken web applications before: markup and template
# syntax, SQL, paths, encodings, numbers at and past the edges, bad dates.
HOSTILE_TEXT = [
    "",
    " ",
    "\t\n",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "{{ 7|add:1 }}",
    "{% debug %}",
    "{% load static %}{% static 'x' %}",
    "${7*7}",
    "'; DROP TABLE auth_user; --",
    "' OR '1'='1",
    "../../../../etc/passwd",
    "..\\..\\windows\\win.ini",
    "%00",
    "\x00",
    "a\x00b",
    "\ud800",
    "\udfff lone surrogate",
    "\u202eevil",
    "\ufeff",
    "0",
    "-1",
    "1e309",
    "NaN",
    "Infinity",
    "true",
    "null",
    "[]",
    "{}",
    "current",
    "pending",
    "archived",
    "approved",
    "rejected",
    "infinity",
    "agent-v0",
    "default_profile_extractor",
    "default_playbook_extractor",
    "profile_generation",
    "playbook_generation",
    "2024-02-30T00:00:00",
    "2024-13-01",
    "0000-00-00T00:00:00",
    "9999-12-31T23:59:59+99:00",
    "-001-01-01",
    "2024-01-01T00:00:00Z",
    "1970-01-01",
    "yesterday",
]

# Values a well-behaved caller sends, so that examples get past validation.
ORDINARY_TEXT = [
    "ana",
    "ben",
    "chat",
    "agent-v0",
    "default_profile_extractor",
    "default_playbook_extractor",
    "session-1",
    "I live in Berlin.",
    "Refund to the card",
    "<b>bold</b> & {{ user }}",
]

HOSTILE_NUMBERS = [
    0,
    -1,
    1,
    2**31,
    2**63 - 1,
    2**63,
    2**64,
    -(2**63) - 1,
    10**30,
    32_503_680_000,
    32_503_680_001,
    1.5,
    -0.0,
    1e308,
    float("inf"),
    float("-inf"),
    float("nan"),
]


def repeat(text: str) -> Any:
    """A strategy of `text` repeated to the given lengths, with a short repr.

    Hypothesis prints strategies in its messages; long literals in them
    would make those reprs many megabytes.
    """

    def times(count: int) -> str:
        return text * count

    times.__name__ = f"repeat_{ord(text[0]):x}"
    return times


LONG_TEXT = st.one_of(
    st.sampled_from([255, 256, 1001, 70_000]).map(repeat("x")),
    st.sampled_from([40, 300]).map(repeat("9")),
    st.just(300).map(repeat("\U0001d54f")),
    st.just(256).map(repeat("é")),
)

hostile_text = st.one_of(
    st.sampled_from(HOSTILE_TEXT),
    LONG_TEXT,
    # Any code point but lone surrogates (those are in HOSTILE_TEXT), NUL too.
    st.text(max_size=40),
)
hostile_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from(HOSTILE_NUMBERS),
    st.integers(),
    hostile_text,
)
hostile_value = st.recursive(
    hostile_scalar,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(hostile_text, children, max_size=4),
    ),
    max_leaves=10,
)


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


# Bodies that are not a JSON object at all.
malformed_body = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(str.encode),
    st.sampled_from(
        [
            b"{",
            b'{"user_id": ',
            b'{"user_id": "ana",}',
            b"[]",
            b"null",
            b"42",
            b'"text"',
            b"\xff\xfe{}",
            b"\xc3\x28",
            b'{"a": NaN, "b": Infinity}',
            b'{"user_id": "\\ud800"}',
            b'{"a": 1, "a": 2}',
            _deep(100_000).encode(),
            ('{"a":' * 5_000 + "1" + "}" * 5_000).encode(),
        ]
    ),
    hostile_value.map(lambda value: json.dumps(value).encode()),
)


@dataclass(frozen=True)
class Existing:
    """Stands for the id of a stored row of `kind`, filled in at request time."""

    kind: str
    index: int = 0


def existing(kind: str) -> st.SearchStrategy[Existing]:
    return st.builds(Existing, st.just(kind), st.integers(min_value=0, max_value=3))


# Fields whose plausible values are ids of stored rows.
ID_FIELDS = {
    "agent_playbook_id": "agent_playbook",
    "user_playbook_id": "user_playbook",
    "operation_id": "operation",
    "profile_id": "profile",
    "profile_ids": "profile",
    "source_interaction_ids": "interaction",
    "user_id": "user",
    "request_id": "request",
}


def _text(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    if schema.get("format") == "date-time":
        return st.one_of(
            st.datetimes().map(lambda moment: moment.isoformat()),
            st.sampled_from(HOSTILE_TEXT[-9:]),
            st.integers(min_value=-(10**12), max_value=10**12),
        )
    longest = schema.get("maxLength")
    edges = (
        [st.sampled_from([longest, longest + 1]).map(repeat("x"))] if longest else []
    )
    return st.one_of(
        st.sampled_from(ORDINARY_TEXT),
        st.sampled_from(ORDINARY_TEXT),
        # NUL is refused up front; HOSTILE_TEXT has it, so here it would only
        # keep examples from reaching further.
        st.text(st.characters(exclude_characters="\x00"), max_size=30),
        st.one_of(st.sampled_from(HOSTILE_TEXT), LONG_TEXT, *edges),
    )


def _integer(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    edges = [
        value + step
        for value in (low, high)
        if value is not None
        for step in (-1, 0, 1)
    ]
    return st.one_of(
        st.integers(min_value=-5, max_value=50),
        st.sampled_from(edges or [0]),
        st.sampled_from(HOSTILE_NUMBERS),
    )


def from_schema(
    schema: dict[str, Any],
    defs: dict[str, Any] | None = None,
    name: str = "",
    depth: int = 0,
    *,
    wrong: bool = True,
) -> st.SearchStrategy[Any]:
    """Schema-shaped values; with `wrong`, hostile ones at any level now and then.

    Schema-shaped values are already hostile in content (markup, SQL, NUL,
    lengths at and past the limit); `wrong` adds values of the wrong type.
    """
    defs = defs if defs is not None else schema.get("$defs", {})
    if "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[-1]]
    kind = ID_FIELDS.get(name)
    plausible = _plausible(schema, defs, name, depth, wrong)
    if kind and "items" not in schema:
        plausible = st.one_of(existing(kind), plausible)
    if not wrong:
        return plausible
    # About one value in eight is of the wrong type, so that many bodies
    # still validate and reach the services.
    return st.one_of(*[plausible] * 7, hostile_value if depth < 2 else hostile_scalar)


def _plausible(
    schema: dict[str, Any], defs: dict[str, Any], name: str, depth: int, wrong: bool
) -> st.SearchStrategy[Any]:
    def inner(part: dict[str, Any], key: str = name) -> st.SearchStrategy[Any]:
        return from_schema(part, defs, key, depth + 1, wrong=wrong)

    if "anyOf" in schema:
        return st.one_of([inner(option) for option in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "string":
        return _text(schema)
    if kind == "integer":
        return _integer(schema)
    if kind == "number":
        return st.sampled_from(HOSTILE_NUMBERS)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        items = schema.get("items") or {}
        element = inner(items) if items else hostile_value
        if ID_FIELDS.get(name):
            element = st.one_of(existing(ID_FIELDS[name]), element)
        fewest = schema.get("minItems", 0)
        most = schema.get("maxItems")
        size = most + 1 if most and most <= 10 else fewest + 2
        return st.lists(element, min_size=fewest, max_size=size)
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        required = set(schema.get("required", []))
        return st.fixed_dictionaries(
            {key: inner(properties[key], key) for key in required},
            optional={
                key: inner(value, key)
                for key, value in properties.items()
                if key not in required
            },
        )
    return hostile_value


def resolve(value: Any, stored: dict[str, list[Any]]) -> Any:
    """Replace each Existing marker by the id of a stored row of its kind."""
    if isinstance(value, Existing):
        ids = stored.get(value.kind) or [0]
        return ids[value.index % len(ids)]
    if isinstance(value, list):
        return [resolve(item, stored) for item in value]
    if isinstance(value, dict):
        return {key: resolve(item, stored) for key, item in value.items()}
    return value


# What is stored: one hash per table of every row, so that a refused request
# provably changed nothing (not only no new rows: no edited ones either).

FINGERPRINT_APPS = ("reflexio_admin", "profiles", "playbooks", "auth")
# Columns that change on reads, not on writes.
VOLATILE = {"last_used_at", "last_login"}


def _table_sql(model: Any) -> str:
    quote = connection.ops.quote_name
    columns = [
        quote(field.column)
        for field in model._meta.concrete_fields
        if field.column not in VOLATILE
    ]
    row = "concat_ws('|', " + ", ".join(f"{c}::text" for c in columns) + ")"
    return (
        f"(SELECT md5(coalesce(string_agg({row}, ',' ORDER BY {row}), '')) "
        f"FROM {quote(model._meta.db_table)})"
    )


def stored_models() -> list[Any]:
    found = []
    for label in FINGERPRINT_APPS:
        for model in apps.get_app_config(label).get_models(include_auto_created=True):
            if model._meta.managed and not model._meta.proxy:
                found.append(model)
    return found


def fingerprint(*, exclude: tuple[type, ...] = ()) -> str:
    """A digest of every row the product stores (sessions and caches aside)."""
    parts = [_table_sql(model) for model in stored_models() if model not in exclude]
    with connection.cursor() as cursor:
        cursor.execute("SELECT concat_ws(':', " + ", ".join(parts) + ")")
        (digest,) = cursor.fetchone()
    return hashlib.sha256(digest.encode()).hexdigest()
