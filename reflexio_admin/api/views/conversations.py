"""Publishing and reading conversations, and who the caller is."""

from __future__ import annotations

import logging

from django.db import connection

from reflexio_admin import ingest
from reflexio_admin.api import schemas, selectors
from reflexio_admin.api import serializers as wire
from reflexio_admin.api.auth import PUBLISH, READ
from reflexio_admin.api.http import GET, POST, ApiRequest, Json, endpoint

logger = logging.getLogger(__name__)


# How long `?wait_for_response=true` holds a publish open for its extraction.
PUBLISH_WAIT_SECONDS = 120.0


def _wants_wait(request: ApiRequest) -> bool:
    return request.GET.get("wait_for_response", "").lower() in {"1", "true", "yes"}


@endpoint(
    methods=POST, permission=PUBLISH, schema=schemas.PublishUserInteractionRequest
)
def publish_interaction(
    request: ApiRequest, payload: schemas.PublishUserInteractionRequest
) -> Json:
    result = ingest.publish_interactions(
        user_id=payload.user_id,
        interactions=payload.interaction_data_list,
        source=payload.source,
        agent_version=payload.agent_version,
        session_id=payload.session_id,
        request_id=payload.request_id,
        actor=request.api_user,
        force_extraction=payload.force_extraction,
    )
    warnings = list(result.warnings)
    if unknown := payload.unknown_fields():
        warnings.append(
            "publish request: ignored unrecognised field(s) "
            + ", ".join(name[:64] for name in unknown[:5])
        )
    response: Json = {
        "success": True,
        "message": f"Stored {result.stored} interaction(s).",
        "warnings": warnings,
        "request_id": result.request_id,
        "learning_status": "deferred" if result.operations else None,
        "extraction_operation_ids": [op.pk for op in result.operations],
        "profiles_added": None,
        "playbooks_added": None,
    }
    if _wants_wait(request):
        outcome = ingest.wait_for_extraction(
            result.operations, timeout=PUBLISH_WAIT_SECONDS
        )
        response.update(
            learning_status="done" if outcome.finished else "processing",
            profiles_added=outcome.profiles_added,
            playbooks_added=outcome.playbooks_added,
        )
    return response


@endpoint(methods=POST, permission=READ, schema=schemas.GetInteractionsRequest)
def get_interactions(
    request: ApiRequest, payload: schemas.GetInteractionsRequest
) -> Json:
    rows = selectors.interactions(payload)
    return {
        "success": True,
        "interactions": [wire.interaction_view(i, i.request.request_id) for i in rows],
        "msg": None,
    }


@endpoint(methods=POST, permission=READ, schema=schemas.GetRequestsRequest)
def get_requests(request: ApiRequest, payload: schemas.GetRequestsRequest) -> Json:
    sessions, has_more = selectors.sessions(payload)
    return {
        "success": True,
        "sessions": [
            {
                "session_id": session_id,
                "requests": [
                    {
                        "request": wire.request_view(r),
                        "interactions": [
                            wire.interaction_view(i, r.request_id)
                            for i in r.interactions.all()
                        ],
                    }
                    for r in requests
                ],
            }
            for session_id, requests in sessions
        ],
        "has_more": has_more,
        "msg": None,
    }


@endpoint(methods=GET, permission=None)
def whoami(request: ApiRequest, payload: None) -> Json:
    user = request.api_user
    return {
        "success": True,
        "org_id": "reflexio-admin",
        "storage_type": connection.vendor,
        "storage_label": "Reflexio Admin (self-hosted)",
        "storage_configured": True,
        "message": f"Authenticated as {user.get_username()}.",
        "username": user.get_username(),
        "is_superuser": user.is_superuser,
        "permissions": sorted(
            name.rpartition(".")[2]
            for name in user.get_all_permissions()
            if name.startswith("reflexio_admin.")
        ),
        "api_key_name": request.api_key.name,
        "api_key_prefix": request.api_key.prefix,
    }
