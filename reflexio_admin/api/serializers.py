"""Rows as Reflexio's wire format: views of interactions, profiles, playbooks
and operations. Times are unix seconds; status CURRENT travels as null.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from playbooks.models import AgentPlaybook, UserPlaybook
from profiles.models import UserProfile
from reflexio_admin.models import (
    Interaction,
    Operation,
    OperationKind,
    OperationStatus,
    OperationUser,
    Request,
)
from reflexio_admin.status import Status

# Reflexio's "never expires" timestamp (2100-01-01 UTC).
NEVER_EXPIRES_TIMESTAMP = 4102444800
MAX_LISTED_USERS = 1000

# Reflexio's service names and the operation kinds behind each.
SERVICE_KINDS: dict[str, tuple[str, ...]] = {
    "profile_generation": (
        OperationKind.RERUN_PROFILES,
        OperationKind.MANUAL_PROFILES,
    ),
    "playbook_generation": (
        OperationKind.RERUN_PLAYBOOKS,
        OperationKind.MANUAL_PLAYBOOKS,
    ),
    "playbook_aggregation": (OperationKind.AGGREGATE_PLAYBOOKS,),
}
_WIRE_STATUS = {
    OperationStatus.QUEUED: "in_progress",
    OperationStatus.RUNNING: "in_progress",
    OperationStatus.COMPLETED: "completed",
    OperationStatus.FAILED: "failed",
    OperationStatus.CANCELLED: "cancelled",
}


def unix(value: datetime | None) -> int | None:
    return int(value.timestamp()) if value else None


def wire_status(status: str) -> str | None:
    return None if status == Status.CURRENT else status


def service_name(kind: str) -> str:
    for name, kinds in SERVICE_KINDS.items():
        if kind in kinds:
            return name
    return kind


def request_view(request: Request) -> dict[str, Any]:
    return {
        "request_id": request.request_id,
        "user_id": request.user_id,
        "created_at": unix(request.created_at),
        "source": request.source,
        "agent_version": request.agent_version,
        "session_id": request.session_id,
        "evaluation_only": False,
    }


def _tools(value: Any) -> list[dict[str, Any]]:
    tools = []
    for tool in value if isinstance(value, list) else []:
        if isinstance(tool, dict) and tool.get("tool_name"):
            tools.append(
                {
                    "tool_name": str(tool["tool_name"]),
                    "tool_data": tool.get("tool_data") or {},
                    "status": str(tool.get("status") or ""),
                }
            )
    return tools


def interaction_view(interaction: Interaction, request_id: str) -> dict[str, Any]:
    return {
        "interaction_id": interaction.pk,
        "user_id": interaction.user_id,
        "request_id": request_id,
        "created_at": unix(interaction.created_at),
        "role": interaction.role,
        "content": interaction.content,
        "user_action": "none",
        "user_action_description": "",
        "interacted_image_url": "",
        "shadow_content": "",
        "expert_content": "",
        "tools_used": _tools(interaction.tools_used),
        "retrieved_learnings": [],
    }


def profile_view(profile: UserProfile) -> dict[str, Any]:
    return {
        "profile_id": profile.profile_id,
        "user_id": profile.user_id,
        "content": profile.content,
        "last_modified_timestamp": unix(profile.modified_at),
        "generated_from_request_id": profile.request_id,
        "profile_time_to_live": profile.time_to_live,
        "expiration_timestamp": unix(profile.expires_at) or NEVER_EXPIRES_TIMESTAMP,
        "custom_features": profile.custom_features,
        "source": profile.source or None,
        "status": wire_status(profile.status),
        "extractor_names": [profile.extractor_name],
        "source_span": None,
        "source_interaction_ids": list(profile.source_interaction_ids or []),
        "tags": [],
    }


def user_playbook_view(playbook: UserPlaybook) -> dict[str, Any]:
    return {
        "user_playbook_id": playbook.pk,
        "user_id": playbook.user_id,
        "agent_version": playbook.agent_version,
        "request_id": playbook.request_id,
        "playbook_name": playbook.playbook_name,
        "created_at": unix(playbook.created_at),
        "content": playbook.content,
        "trigger": playbook.trigger or None,
        "rationale": playbook.rationale or None,
        "status": wire_status(playbook.status),
        "source": playbook.source or None,
        "source_interaction_ids": list(playbook.source_interaction_ids or []),
        "source_span": None,
        "tags": [],
    }


def agent_playbook_view(playbook: AgentPlaybook) -> dict[str, Any]:
    metadata = {
        "source_user_playbook_ids": list(playbook.source_user_playbook_ids or []),
        "operation_id": playbook.operation_id,
        "reviewed_at": unix(playbook.reviewed_at),
    }
    return {
        "agent_playbook_id": playbook.pk,
        "playbook_name": playbook.playbook_name,
        "agent_version": playbook.agent_version,
        "created_at": unix(playbook.created_at),
        "content": playbook.content,
        "trigger": playbook.trigger or None,
        "rationale": playbook.rationale or None,
        "playbook_status": playbook.approval,
        "playbook_metadata": json.dumps(metadata),
        "status": None,
        "tags": [],
    }


def operation_status_info(operation: Operation) -> dict[str, Any]:
    """An operation as Reflexio's OperationStatusInfo, plus our own fields."""
    results = operation.user_results.order_by("id")
    failed = results.filter(state=OperationUser.State.FAILED)[:MAX_LISTED_USERS]
    done = results.filter(state=OperationUser.State.DONE).values_list(
        "user_id", flat=True
    )[:MAX_LISTED_USERS]
    return {
        "service_name": service_name(operation.kind),
        "status": _WIRE_STATUS[OperationStatus(operation.status)],
        "started_at": unix(operation.started_at or operation.created_at),
        "completed_at": unix(operation.finished_at),
        "total_users": operation.total_users,
        "processed_users": operation.processed_users,
        "failed_users": operation.failed_users,
        "current_user_id": None,
        "processed_user_ids": list(done),
        "failed_user_ids": [{"user_id": r.user_id, "error": r.error} for r in failed],
        "request_params": operation.params,
        "stats": {
            "items_produced": operation.items_produced,
            "prompt_tokens": operation.prompt_tokens,
            "completion_tokens": operation.completion_tokens,
            "llm_calls": operation.llm_calls,
        },
        "error_message": operation.error_message or None,
        "progress_percentage": operation.progress_percentage,
        # Ours, beyond Reflexio's model (its client ignores unknown keys).
        "operation_id": operation.pk,
        "kind": operation.kind,
        "operation_status": operation.status,
        "cancel_requested": operation.cancel_requested,
        "created_at": unix(operation.created_at),
        "retry_of": operation.retry_of_id,
        "result": operation.result,
    }
