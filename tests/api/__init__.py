"""Tests of the JSON API, the ingest service, the Python client and commands."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.models import User
from django.test import Client

from reflexio_admin.models import ApiKey
from tests.factories import user_with_role


class ApiClient:
    """Calls /api/<name> with a Bearer key, the way an agent would."""

    def __init__(self, client: Client, key: str | None) -> None:
        self.client = client
        self.key = key

    def _headers(self) -> dict[str, str]:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.key}"} if self.key else {}

    def call(
        self,
        method: str,
        name: str,
        body: Any = None,
        *,
        query: dict[str, Any] | None = None,
        raw: bytes | str | None = None,
        **headers: str,
    ) -> Any:
        url = f"/api/{name}" + (f"?{urlencode(query)}" if query else "")
        data = raw if raw is not None else json.dumps(body or {})
        return self.client.generic(
            method,
            url,
            data if method != "GET" else "",
            content_type="application/json",
            **self._headers(),
            **headers,
        )

    def post(self, name: str, body: Any = None, **kwargs: Any) -> Any:
        return self.call("POST", name, body, **kwargs)

    def get(self, name: str, **query: Any) -> Any:
        return self.call("GET", name, query=query or None)

    def delete(self, name: str, body: Any = None) -> Any:
        return self.call("DELETE", name, body)

    def put(self, name: str, body: Any = None) -> Any:
        return self.call("PUT", name, body)


def issue_key(
    username: str, role: str | None = "reviewer", *, superuser: bool = False
) -> tuple[User, str]:
    """A user with a role (or a superuser) and a fresh raw API key."""
    if superuser:
        user = User.objects.create_superuser(username=username, password="x")
    else:
        user = user_with_role(username, role)
    _, raw = ApiKey.issue(user=user, name=f"{username} key")
    return user, raw


def publish_body(
    user_id: str = "ana", *turns: str | dict[str, Any], **fields: Any
) -> dict[str, Any]:
    """A publish payload; bare strings are user turns."""
    interactions = [
        {"role": "User", "content": turn} if isinstance(turn, str) else turn
        for turn in turns or ("I work night shifts.",)
    ]
    return {
        "user_id": user_id,
        "session_id": "session-1",
        "interaction_data_list": interactions,
        **fields,
    }
