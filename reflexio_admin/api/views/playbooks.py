"""Playbooks: user playbooks, their operations, aggregation and review."""

from __future__ import annotations

import logging

from django.db import transaction

from playbooks import aggregation as playbook_aggregation
from playbooks import services as playbook_services
from playbooks.models import DEFAULT_PLAYBOOK_EXTRACTOR, AgentPlaybook, UserPlaybook
from reflexio_admin.api import schemas, selectors
from reflexio_admin.api import serializers as wire
from reflexio_admin.api.auth import EDIT, OPERATE, READ, REVIEW
from reflexio_admin.api.http import (
    DELETE,
    POST,
    UPDATE,
    ApiError,
    ApiRequest,
    Json,
    actor_of,
    endpoint,
    get_or_404,
    started,
    starter_of,
)
from reflexio_admin.status import Status

logger = logging.getLogger(__name__)


@endpoint(methods=POST, permission=READ, schema=schemas.GetUserPlaybooksRequest)
def get_user_playbooks(
    request: ApiRequest, payload: schemas.GetUserPlaybooksRequest
) -> Json:
    if payload.tags:
        raise ApiError(400, "tags: filtering by tags is not supported here.")
    rows = selectors.user_playbooks(payload)
    return {
        "success": True,
        "user_playbooks": [wire.user_playbook_view(p) for p in rows],
        "msg": None,
    }


@endpoint(methods=POST, permission=READ, schema=schemas.GetAgentPlaybooksRequest)
def get_agent_playbooks(
    request: ApiRequest, payload: schemas.GetAgentPlaybooksRequest
) -> Json:
    if payload.tags:
        raise ApiError(400, "tags: filtering by tags is not supported here.")
    rows = selectors.agent_playbooks(payload)
    return {
        "success": True,
        "agent_playbooks": [wire.agent_playbook_view(p) for p in rows],
        "msg": None,
    }


@endpoint(methods=POST, permission=EDIT, schema=schemas.AddUserPlaybookRequest)
def add_user_playbook(
    request: ApiRequest, payload: schemas.AddUserPlaybookRequest
) -> Json:
    with transaction.atomic():
        added = [
            playbook_services.user_playbook_add(
                user_id=item.user_id or "",
                agent_version=item.agent_version or "",
                playbook_name=item.playbook_name or DEFAULT_PLAYBOOK_EXTRACTOR,
                content=item.content,
                trigger=item.trigger or "",
                rationale=item.rationale or "",
                status=item.status or Status.CURRENT,
                source=item.source or "",
                request_id=item.request_id,
                source_interaction_ids=item.source_interaction_ids,
                **actor_of(request),
            )
            for item in payload.user_playbooks
        ]
    return {
        "success": True,
        "message": f"Added {len(added)} user playbook(s).",
        "added_count": len(added),
        "user_playbook_ids": [playbook.pk for playbook in added],
    }


@endpoint(methods=UPDATE, permission=EDIT, schema=schemas.UpdateUserPlaybookRequest)
def update_user_playbook(
    request: ApiRequest, payload: schemas.UpdateUserPlaybookRequest
) -> Json:
    playbook = get_or_404(
        UserPlaybook.objects, "user playbook", pk=payload.user_playbook_id
    )
    playbook_services.user_playbook_update(
        playbook=playbook,
        content=payload.content,
        trigger=payload.trigger,
        rationale=payload.rationale,
        playbook_name=payload.playbook_name,
        **actor_of(request),
    )
    return {"success": True, "msg": f"User playbook {playbook.pk} updated."}


@endpoint(methods=DELETE, permission=EDIT, schema=schemas.DeleteUserPlaybookRequest)
def delete_user_playbook(
    request: ApiRequest, payload: schemas.DeleteUserPlaybookRequest
) -> Json:
    playbook = get_or_404(
        UserPlaybook.objects, "user playbook", pk=payload.user_playbook_id
    )
    playbook_services.user_playbook_delete(playbook=playbook, **actor_of(request))
    return {
        "success": True,
        "message": f"User playbook {payload.user_playbook_id} deleted.",
    }


@endpoint(
    methods=POST, permission=OPERATE, schema=schemas.RerunPlaybookGenerationRequest
)
def rerun_playbook_generation(
    request: ApiRequest, payload: schemas.RerunPlaybookGenerationRequest
) -> Json:
    operation = playbook_services.rerun_playbook_generation(
        agent_version=payload.agent_version or "",
        start_time=payload.start_time,
        end_time=payload.end_time,
        source=payload.source,
        playbook_name=payload.playbook_name,
        **starter_of(request),
    )
    return {
        "success": True,
        "msg": started(operation),
        "playbooks_generated": None,
        "operation_id": str(operation.pk),
    }


@endpoint(
    methods=POST, permission=OPERATE, schema=schemas.ManualPlaybookGenerationRequest
)
def manual_playbook_generation(
    request: ApiRequest, payload: schemas.ManualPlaybookGenerationRequest
) -> Json:
    operation = playbook_services.manual_playbook_generation(
        agent_version=payload.agent_version or "",
        source=payload.source,
        playbook_name=payload.playbook_name,
        **starter_of(request),
    )
    return {
        "success": True,
        "msg": started(operation),
        "playbooks_generated": None,
        "operation_id": str(operation.pk),
    }


def _playbook_scope(
    payload: schemas.UpgradeUserPlaybooksRequest
    | schemas.DowngradeUserPlaybooksRequest,
) -> str:
    parts = [
        f"{name} {value}"
        for name in ("agent_version", "playbook_name", "user_id")
        if (value := getattr(payload, name))
    ]
    return f" for {', '.join(parts)}" if parts else ""


@endpoint(methods=POST, permission=OPERATE, schema=schemas.UpgradeUserPlaybooksRequest)
def upgrade_all_user_playbooks(
    request: ApiRequest, payload: schemas.UpgradeUserPlaybooksRequest
) -> Json:
    if not payload.archive_current:
        raise ApiError(
            400,
            "archive_current: false is not supported; the replaced current "
            "playbooks are always archived so that a downgrade can restore them.",
        )
    result = playbook_services.upgrade_user_playbooks(
        agent_version=payload.agent_version,
        playbook_name=payload.playbook_name,
        user_id=payload.user_id,
        **actor_of(request),
    )
    if result.changed:
        message = (
            f"Promoted {result.promoted} pending user playbook(s) of "
            f"{result.users} user(s); archived {result.archived}, deleted "
            f"{result.deleted} old archived."
        )
    else:
        message = (
            f"Nothing to upgrade: no pending user playbooks{_playbook_scope(payload)}."
        )
    return {
        "success": True,
        "user_playbooks_promoted": result.promoted,
        "user_playbooks_archived": result.archived,
        "user_playbooks_deleted": result.deleted,
        "message": message,
    }


@endpoint(
    methods=POST, permission=OPERATE, schema=schemas.DowngradeUserPlaybooksRequest
)
def downgrade_all_user_playbooks(
    request: ApiRequest, payload: schemas.DowngradeUserPlaybooksRequest
) -> Json:
    result = playbook_services.downgrade_user_playbooks(
        agent_version=payload.agent_version,
        playbook_name=payload.playbook_name,
        user_id=payload.user_id,
        **actor_of(request),
    )
    if result.changed:
        message = (
            f"Restored {result.restored} archived user playbook(s) of "
            f"{result.users} user(s); archived {result.demoted} current."
        )
    else:
        message = (
            f"Nothing to downgrade: no archived user playbooks"
            f"{_playbook_scope(payload)}."
        )
    return {
        "success": True,
        "user_playbooks_restored": result.restored,
        "user_playbooks_demoted": result.demoted,
        "message": message,
    }


@endpoint(
    methods=POST, permission=OPERATE, schema=schemas.RunPlaybookAggregationRequest
)
def run_playbook_aggregation(
    request: ApiRequest, payload: schemas.RunPlaybookAggregationRequest
) -> Json:
    operation = playbook_aggregation.run_playbook_aggregation(
        agent_version=payload.agent_version or "",
        playbook_name=payload.playbook_name,
        **starter_of(request),
    )
    return {
        "success": True,
        "message": started(operation),
        "operation_id": str(operation.pk),
    }


@endpoint(methods=UPDATE, permission=REVIEW, schema=schemas.UpdatePlaybookStatusRequest)
def update_agent_playbook_status(
    request: ApiRequest, payload: schemas.UpdatePlaybookStatusRequest
) -> Json:
    playbook = get_or_404(
        AgentPlaybook.objects, "agent playbook", pk=payload.agent_playbook_id
    )
    playbook_aggregation.agent_playbook_set_approval(
        agent_playbook=playbook, approval=payload.playbook_status, **actor_of(request)
    )
    return {
        "success": True,
        "msg": f"Agent playbook {playbook.pk} is now {payload.playbook_status}.",
    }


@endpoint(methods=UPDATE, permission=REVIEW, schema=schemas.UpdateAgentPlaybookRequest)
def update_agent_playbook(
    request: ApiRequest, payload: schemas.UpdateAgentPlaybookRequest
) -> Json:
    playbook = get_or_404(
        AgentPlaybook.objects, "agent playbook", pk=payload.agent_playbook_id
    )
    playbook_aggregation.agent_playbook_update(
        agent_playbook=playbook,
        content=payload.content,
        trigger=payload.trigger,
        rationale=payload.rationale,
        playbook_name=payload.playbook_name,
        approval=payload.playbook_status,
        **actor_of(request),
    )
    return {"success": True, "msg": f"Agent playbook {playbook.pk} updated."}
