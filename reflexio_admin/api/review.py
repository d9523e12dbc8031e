"""The review as JSON, so that engineers can script reviews.

`GET /api/review/profiles?user_id=...[&extractor=...]` and
`GET /api/review/user_playbooks?agent_version=...[&playbook_name=...][&user_id=...]`
answer the same comparison as the console's review pages::

    {"stale": bool,
     "counts": {"unchanged": n, "reworded": n, "added": n, "removed": n},
     "items": [{"label": ..., "pending": {"id", "content"} | null,
                "current": {"id", "content"} | null, "similarity": n | null}]}

An item's id is the profile_id of a profile and the user_playbook_id of a user
playbook; a user playbook's content is "trigger: content", the text compared.
"""

from __future__ import annotations

import logging
from typing import Any

from reflexio_admin import review
from reflexio_admin.api.auth import READ
from reflexio_admin.api.http import ApiRequest, endpoint
from reflexio_admin.api.schemas import OptionalId, RequiredId, WireModel
from reflexio_admin.pairing import ReviewItem

logger = logging.getLogger(__name__)


class ProfileReviewQuery(WireModel):
    user_id: RequiredId
    extractor: OptionalId = None


class UserPlaybookReviewQuery(WireModel):
    agent_version: RequiredId
    playbook_name: OptionalId = None
    user_id: OptionalId = None


def _side(item: ReviewItem | None) -> dict[str, Any] | None:
    if item is None:
        return None
    return {"id": item.public_id, "content": item.text}


def review_json(found: review.Review) -> dict[str, Any]:
    return {
        "stale": found.staleness.stale,
        "counts": found.counts.as_dict(),
        "items": [
            {
                "label": str(row.label),
                "pending": _side(row.pending),
                "current": _side(row.current),
                "similarity": row.similarity,
            }
            for row in found.comparison.items
        ],
    }


@endpoint(methods=("GET",), permission=READ, schema=ProfileReviewQuery)
def profile_review(request: ApiRequest, query: ProfileReviewQuery) -> dict[str, Any]:
    scope = review.profile_scope(query.user_id, query.extractor)
    return review_json(review.load_review(scope))


@endpoint(methods=("GET",), permission=READ, schema=UserPlaybookReviewQuery)
def user_playbook_review(
    request: ApiRequest, query: UserPlaybookReviewQuery
) -> dict[str, Any]:
    scope = review.playbook_scope(
        query.agent_version, query.playbook_name, query.user_id
    )
    return review_json(review.load_review(scope))
