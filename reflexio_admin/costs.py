"""What a rerun will cost, shown on the rerun forms before anything starts.

The estimate reads aggregates only (counts and total text length per scope),
never the interactions themselves, and calls no model. It follows what a
rerun does: each extractor walks each user's interactions in windows of its
batch size, one extraction call per window, then one consolidation call per
user whose history took more than one window.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Count, Sum
from django.db.models.functions import Length

from playbooks.models import PlaybookExtractor
from profiles.models import ProfileExtractor
from reflexio_admin import llm, planning
from reflexio_admin.interactions import Scope
from reflexio_admin.models import DEFAULT_AGENT_VERSION, GenerationSettings

logger = logging.getLogger(__name__)

# Tokens around each turn in the request document (index, role, quotes).
TURN_OVERHEAD_TOKENS = 8
# One extracted fact or rule as the model writes it, and how many a window
# yields on average; known facts travel in every later window's prompt.
ITEM_TOKENS = 20
ITEMS_PER_WINDOW = 3
# The JSON envelope of an answer.
ANSWER_OVERHEAD_TOKENS = 10

_PROMPTS = {
    "profiles": (llm.PROFILE_EXTRACTION_PROMPT, llm.PROFILE_CONSOLIDATION_PROMPT),
    "playbooks": (llm.PLAYBOOK_EXTRACTION_PROMPT, llm.PLAYBOOK_CONSOLIDATION_PROMPT),
}


@dataclass(frozen=True)
class CostPreview:
    users: int
    interactions: int
    windows: int
    llm_calls: int
    estimated_prompt_tokens: int
    estimated_completion_tokens: int
    model: str
    extractors: tuple[str, ...] = ()

    @property
    def estimated_total_tokens(self) -> int:
        return self.estimated_prompt_tokens + self.estimated_completion_tokens


@dataclass(frozen=True)
class _Walk:
    """What one extractor's walk over the scope reads."""

    users: int = 0
    interactions: int = 0
    characters: int = 0
    windows: int = 0
    # Users whose history takes more than one window, and their windows.
    consolidated_users: int = 0
    consolidated_windows: int = 0


def _walk(qs: Any, batch_size: int | None) -> _Walk:
    """Two aggregate queries: text length, and windows per user."""
    totals = qs.aggregate(interactions=Count("pk"), characters=Sum(Length("content")))
    if not totals["interactions"]:
        return _Walk()
    size = batch_size or 0
    per_user = qs.values("user_id").annotate(turns=Count("pk")).order_by()
    inner, params = per_user.query.sql_with_params()
    # Windows per user are ceil(turns / size), in integer arithmetic; without
    # a batch size each user's whole history is one window.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*), "
            "SUM(CASE WHEN %s > 0 THEN (turns + %s - 1) / %s ELSE 1 END), "
            "SUM(CASE WHEN %s > 0 AND turns > %s THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN %s > 0 AND turns > %s "
            "THEN (turns + %s - 1) / %s ELSE 0 END) "
            f"FROM ({inner}) AS per_user",
            [size, size, max(size, 1), size, size, size, size, size, max(size, 1)]
            + list(params),
        )
        users, windows, consolidated_users, consolidated_windows = cursor.fetchone()
    return _Walk(
        users=users,
        interactions=totals["interactions"],
        characters=totals["characters"] or 0,
        windows=windows or 0,
        consolidated_users=consolidated_users or 0,
        consolidated_windows=consolidated_windows or 0,
    )


def _tokens(walk: _Walk, extractor: Any, kind: str) -> tuple[int, int, int]:
    """Estimated (prompt, completion, calls) of one extractor's walk."""
    extraction_prompt, consolidation_prompt = _PROMPTS[kind]
    definition = llm.estimate_tokens(
        extractor.definition_prompt + extractor.context_prompt
    )
    found = ITEM_TOKENS * ITEMS_PER_WINDOW
    # Window k of a user carries the facts found by the k-1 before it; counted
    # as one window's worth each, which is right for short histories.
    prompt = (
        walk.windows * (llm.estimate_tokens(extraction_prompt) + definition)
        + walk.interactions * TURN_OVERHEAD_TOKENS
        + (walk.characters + 3) // 4
        + (walk.windows - walk.users) * found
        + walk.consolidated_users
        * (llm.estimate_tokens(consolidation_prompt) + definition)
        + walk.consolidated_windows * found
    )
    answers = walk.windows + walk.consolidated_users
    completion = answers * ANSWER_OVERHEAD_TOKENS + (
        walk.windows + walk.consolidated_windows
    ) * (found // 2)
    return prompt, completion, answers


def rerun_cost_preview(
    kind: str,
    *,
    user_id: str | None = None,
    start_time: datetime | None = None,
    end_time: datetime | None = None,
    source: str | None = None,
    extractor_names: Sequence[str] | None = None,
    agent_version: str | None = None,
    playbook_name: str | None = None,
) -> CostPreview:
    """Estimate users, interactions, windows and tokens of a rerun.

    `kind` is "profiles" (scope: user_id, times, source, extractor_names) or
    "playbooks" (agent_version, times, source, playbook_name). Unknown
    extractor names raise OperationError, as the rerun itself would.
    """
    if kind == "profiles":
        extractors = planning.choose_extractors(
            ProfileExtractor, extractor_names, "profile extractor"
        )
        scope = Scope(
            user_id=user_id, source=source, start_time=start_time, end_time=end_time
        )
    elif kind == "playbooks":
        extractors = planning.choose_extractors(
            PlaybookExtractor,
            [playbook_name] if playbook_name else None,
            "playbook extractor",
        )
        scope = Scope(
            user_id=user_id,
            agent_version=(agent_version or "").strip() or DEFAULT_AGENT_VERSION,
            source=source,
            start_time=start_time,
            end_time=end_time,
        )
    else:
        raise ValueError(f"Unknown kind {kind!r}")
    extractors = [e for e in extractors if source is None or e.reads_source(source)]
    config = GenerationSettings.load()

    prompt = completion = calls = windows = 0
    for extractor in extractors:
        walk = _walk(
            scope.queryset(extractor.enabled_sources),
            planning.batch_size(extractor, config),
        )
        windows += walk.windows
        spent = _tokens(walk, extractor, kind)
        prompt, completion, calls = (
            prompt + spent[0],
            completion + spent[1],
            calls + spent[2],
        )

    read = _read_by_any(scope, extractors)
    return CostPreview(
        users=read["users"],
        interactions=read["interactions"],
        windows=windows,
        llm_calls=calls,
        estimated_prompt_tokens=prompt,
        estimated_completion_tokens=completion,
        model=llm.get_provider().chat_model,
        extractors=tuple(e.name for e in extractors),
    )


def _read_by_any(scope: Scope, extractors: Sequence[Any]) -> dict[str, int]:
    """Users and interactions that at least one extractor reads."""
    if not extractors:
        return {"users": 0, "interactions": 0}
    qs = scope.queryset()
    if all(e.enabled_sources for e in extractors):
        sources = {s for e in extractors for s in e.enabled_sources}
        qs = qs.filter(source__in=sorted(sources))
    return qs.aggregate(users=Count("user_id", distinct=True), interactions=Count("pk"))
