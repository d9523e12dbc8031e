"""Builders for review tests: CURRENT facts, PENDING sets, user playbooks."""

from __future__ import annotations

from collections.abc import Sequence

from playbooks import services as playbook_services
from playbooks.models import PlaybookGeneration, UserPlaybook
from profiles import services as profile_services
from profiles.models import DEFAULT_PROFILE_EXTRACTOR, ProfileGeneration, UserProfile
from reflexio_admin import generations
from reflexio_admin.offline_llm import embed_text
from reflexio_admin.status import Status


def current_facts(
    user_id: str, texts: Sequence[str], extractor: str = DEFAULT_PROFILE_EXTRACTOR
) -> list[UserProfile]:
    return [
        profile_services.profile_add(
            user_id=user_id, content=text, extractor_name=extractor
        )
        for text in texts
    ]


def pending_facts(
    user_id: str,
    texts: Sequence[str],
    extractor: str = DEFAULT_PROFILE_EXTRACTOR,
    source_interaction_ids: Sequence[int] = (),
) -> list[UserProfile]:
    """A PENDING set made the way a rerun makes it: digest and last interaction."""
    scope = {"user_id": user_id, "extractor_name": extractor}
    generations.replace_pending(
        generation_model=ProfileGeneration,
        item_model=UserProfile,
        scope=scope,
        items=[
            UserProfile(
                content=text,
                embedding=embed_text(text),
                source_interaction_ids=list(source_interaction_ids),
                **scope,
            )
            for text in texts
        ],
        operation_id=None,
        current_digest=profile_services.current_digest(**scope),
        last_seen_interaction_id=generations.last_interaction_id(user_id=user_id),
    )
    return list(
        UserProfile.objects.filter(status=Status.PENDING, **scope).order_by("pk")
    )


def by_text(user_id: str, status: str | None = None) -> dict[str, UserProfile]:
    qs = UserProfile.objects.filter(user_id=user_id)
    if status:
        qs = qs.filter(status=status)
    return {p.content: p for p in qs}


def statuses(user_id: str) -> dict[str, str]:
    return {p.content: p.status for p in UserProfile.objects.filter(user_id=user_id)}


def current_rules(
    user_id: str, rules: Sequence[tuple[str, str]], agent_version: str = "v2"
) -> list[UserPlaybook]:
    return [
        playbook_services.user_playbook_add(
            user_id=user_id,
            agent_version=agent_version,
            playbook_name="default_playbook_extractor",
            trigger=trigger,
            content=content,
        )
        for trigger, content in rules
    ]


def pending_rules(
    user_id: str, rules: Sequence[tuple[str, str]], agent_version: str = "v2"
) -> list[UserPlaybook]:
    scope = {
        "user_id": user_id,
        "agent_version": agent_version,
        "playbook_name": "default_playbook_extractor",
    }
    items = [UserPlaybook(trigger=t, content=c, **scope) for t, c in rules]
    for item in items:
        item.embedding = embed_text(playbook_services.playbook_text(item))
    generations.replace_pending(
        generation_model=PlaybookGeneration,
        item_model=UserPlaybook,
        scope=scope,
        items=items,
        operation_id=None,
        current_digest=playbook_services.current_digest(**scope),
        last_seen_interaction_id=generations.last_interaction_id(
            user_id=user_id, agent_version=agent_version
        ),
    )
    return list(
        UserPlaybook.objects.filter(status=Status.PENDING, **scope).order_by("pk")
    )
