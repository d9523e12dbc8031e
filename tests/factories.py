"""Small builders for test data."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.contrib.auth.models import Group, User
from django.utils import timezone

from reflexio_admin.models import Interaction, Request

_counter = {"n": 0}


def conversation(
    user_id: str,
    turns: Sequence[tuple[str, str] | str],
    *,
    source: str = "chat",
    agent_version: str = "agent-v0",
    session_id: str = "session-1",
    at: datetime | None = None,
) -> Request:
    """Store one request with its turns; a bare string is a user turn."""
    _counter["n"] += 1
    # Later calls make later conversations, one minute apart.
    created = at or timezone.now() - timedelta(days=1, minutes=-_counter["n"])
    request = Request.objects.create(
        request_id=f"req-{_counter['n']}-{user_id}",
        user_id=user_id,
        source=source,
        agent_version=agent_version,
        session_id=session_id,
        created_at=created,
    )
    Interaction.objects.bulk_create(
        [
            Interaction(
                request=request,
                user_id=user_id,
                source=source,
                agent_version=agent_version,
                role=turn[0] if isinstance(turn, tuple) else "User",
                content=turn[1] if isinstance(turn, tuple) else turn,
                created_at=created + timedelta(seconds=index),
            )
            for index, turn in enumerate(turns)
        ]
    )
    return request


def user_with_role(username: str, role: str | None) -> User:
    user = User.objects.create_user(username=username, password="pw-" + username)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


REFUND_CORRECTION = [
    "I need a refund for my last order.",
    ("Assistant", "I have issued store credit for that order."),
    "No, that's not what I asked. I want the money back to my card, not store credit.",
    ("Assistant", "Understood, I refunded it to your card."),
    "Thanks, that worked.",
]
