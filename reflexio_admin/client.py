"""A small Python client for the Reflexio Admin HTTP API.

Its methods, parameters and return values are those of Reflexio's client
documentation for the operations, so scripts written against it run here:

    from reflexio_admin.client import ReflexioClient

    client = ReflexioClient("https://reflexio.example.com", api_key="rfx_...")
    client.publish_interaction("user_123", [{"role": "User", "content": "Hi"}])
    result = client.rerun_profile_generation(user_id="user_123", wait_for_response=True)
    client.upgrade_profiles(user_id="user_123")

It uses only the standard library, so the file can be copied on its own.
Every failed call raises `ReflexioError` with the HTTP status and the server's
message; results are small dataclasses named and shaped like the wire format.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

logger = logging.getLogger(__name__)

DEFAULT_AGENT_VERSION = "agent-v0"
FINAL_STATES = ("completed", "failed", "cancelled")
MAX_POLL_INTERVAL = 3.0

type Time = datetime | int | None


class ReflexioError(Exception):
    """A call that failed: `status_code` is the HTTP status (0: no answer)."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(f"{status_code}: {message}" if status_code else message)
        self.status_code = status_code
        self.message = message


def _build[T](cls: type[T], data: Mapping[str, Any]) -> T:
    """Make a result dataclass from a JSON object, ignoring unknown keys."""
    known = {item.name for item in fields(cls)}  # type: ignore[arg-type]
    return cls(**{name: value for name, value in data.items() if name in known})


# Results


@dataclass
class PublishUserInteractionResponse:
    success: bool
    message: str = ""
    warnings: list[str] = field(default_factory=list)
    request_id: str | None = None
    learning_status: str | None = None
    extraction_operation_ids: list[int] = field(default_factory=list)
    profiles_added: int | None = None
    playbooks_added: int | None = None


@dataclass
class Interaction:
    interaction_id: int
    user_id: str
    request_id: str
    created_at: int
    role: str = "User"
    content: str = ""
    tools_used: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Profile:
    profile_id: str
    user_id: str
    content: str
    last_modified_timestamp: int
    generated_from_request_id: str = ""
    profile_time_to_live: str = "infinity"
    expiration_timestamp: int = 0
    custom_features: dict[str, Any] | None = None
    source: str | None = None
    status: str | None = None
    extractor_names: list[str] | None = None
    source_interaction_ids: list[int] = field(default_factory=list)


@dataclass
class GetProfilesResponse:
    success: bool
    user_profiles: list[Profile] = field(default_factory=list)
    msg: str | None = None


@dataclass
class AddUserProfileResponse:
    success: bool
    message: str | None = None
    added_count: int = 0
    profile_ids: list[str] = field(default_factory=list)


@dataclass
class UpdateResponse:
    success: bool
    msg: str | None = None


@dataclass
class DeleteUserProfileResponse:
    success: bool
    message: str = ""


@dataclass
class RerunProfileGenerationResponse:
    success: bool
    msg: str | None = None
    profiles_generated: int | None = None
    operation_id: str = ""
    processed_users: int | None = None
    failed_users: int | None = None


@dataclass
class RerunPlaybookGenerationResponse:
    success: bool
    msg: str | None = None
    playbooks_generated: int | None = None
    operation_id: str = ""
    processed_users: int | None = None
    failed_users: int | None = None


@dataclass
class UpgradeProfilesResponse:
    success: bool
    profiles_archived: int = 0
    profiles_promoted: int = 0
    profiles_deleted: int = 0
    message: str = ""


@dataclass
class DowngradeProfilesResponse:
    success: bool
    profiles_demoted: int = 0
    profiles_restored: int = 0
    message: str = ""


@dataclass
class UpgradeUserPlaybooksResponse:
    success: bool
    user_playbooks_deleted: int = 0
    user_playbooks_archived: int = 0
    user_playbooks_promoted: int = 0
    message: str = ""


@dataclass
class DowngradeUserPlaybooksResponse:
    success: bool
    user_playbooks_demoted: int = 0
    user_playbooks_restored: int = 0
    message: str = ""


@dataclass
class RunPlaybookAggregationResponse:
    success: bool
    message: str = ""
    operation_id: str = ""


@dataclass
class OperationStarted:
    success: bool
    msg: str | None = None
    operation_id: str = ""


@dataclass
class UserPlaybook:
    user_playbook_id: int
    agent_version: str
    user_id: str | None = None
    request_id: str = ""
    playbook_name: str = ""
    created_at: int = 0
    content: str = ""
    trigger: str | None = None
    rationale: str | None = None
    status: str | None = None
    source: str | None = None
    source_interaction_ids: list[int] = field(default_factory=list)


@dataclass
class AgentPlaybook:
    agent_playbook_id: int
    agent_version: str
    content: str
    playbook_name: str = ""
    created_at: int = 0
    trigger: str | None = None
    rationale: str | None = None
    playbook_status: str = "pending"
    playbook_metadata: str = ""
    status: str | None = None


@dataclass
class GetUserPlaybooksResponse:
    success: bool
    user_playbooks: list[UserPlaybook] = field(default_factory=list)
    msg: str | None = None


@dataclass
class GetAgentPlaybooksResponse:
    success: bool
    agent_playbooks: list[AgentPlaybook] = field(default_factory=list)
    msg: str | None = None


@dataclass
class OperationStatusInfo:
    service_name: str
    status: str
    started_at: int
    operation_id: int = 0
    kind: str = ""
    completed_at: int | None = None
    total_users: int = 0
    processed_users: int = 0
    failed_users: int = 0
    failed_user_ids: list[dict[str, str]] = field(default_factory=list)
    request_params: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, int] = field(default_factory=dict)
    error_message: str | None = None
    progress_percentage: float = 0.0


@dataclass
class GetOperationStatusResponse:
    success: bool
    operation_status: OperationStatusInfo | None = None
    msg: str | None = None


@dataclass
class CancelOperationResponse:
    success: bool
    cancelled_services: list[str] = field(default_factory=list)
    cancelled_operation_ids: list[int] = field(default_factory=list)
    msg: str | None = None


def _time(value: Time) -> str | int | None:
    return value.isoformat() if isinstance(value, datetime) else value


def _statuses(values: Sequence[str | None] | None) -> list[str | None] | None:
    if values is None:
        return None
    return [None if value in (None, "current") else value for value in values]


def _drop_none(payload: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in payload.items() if value is not None}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect means a wrong base URL; following it would turn POST into GET."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class ReflexioClient:
    """Client for a Reflexio Admin server: base URL and a Bearer API key."""

    def __init__(
        self,
        url: str,
        api_key: str,
        timeout: float = 60,
        *,
        max_wait: float = 3600,
    ) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.max_wait = max_wait
        self._opener = urllib.request.build_opener(_NoRedirect)

    # Transport

    def _call(
        self,
        method: str,
        name: str,
        payload: Mapping[str, Any] | None = None,
        query: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        url = f"{self.url}/api/{name}"
        if query:
            url += "?" + urlencode(_drop_none(query))
        body = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(
            url,
            data=body,
            method=method,
            headers={
                "Authorization": f"Bearer {self.api_key}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                raw = response.read()
                status = response.status
        except urllib.error.HTTPError as exc:
            raise ReflexioError(exc.code, _error_message(exc)) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ReflexioError(0, f"Could not reach {url}: {reason}") from None
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            raise ReflexioError(
                status, f"{url} did not answer with JSON; is the URL right?"
            ) from None
        if not isinstance(data, dict):
            raise ReflexioError(status, f"{url} answered with unexpected JSON.")
        return data

    def _post(self, name: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        return self._call("POST", name, payload)

    def _wait(self, operation_id: str) -> OperationStatusInfo:
        """Poll an operation until it ends; raise TimeoutError after max_wait."""
        deadline = time.monotonic() + self.max_wait
        interval = 0.5
        while True:
            info = self.get_operation_status(operation_id=int(operation_id))
            status = info.operation_status
            if status is not None and status.status in FINAL_STATES:
                return status
            if time.monotonic() + interval > deadline:
                raise TimeoutError(
                    f"Operation #{operation_id} did not finish within "
                    f"{self.max_wait:g} s; follow it with "
                    f"get_operation_status(operation_id={operation_id})."
                )
            time.sleep(interval)
            interval = min(MAX_POLL_INTERVAL, interval * 1.5)

    # Publishing and reading

    def publish_interaction(
        self,
        user_id: str,
        interactions: Sequence[Mapping[str, Any]],
        source: str = "",
        agent_version: str = DEFAULT_AGENT_VERSION,
        session_id: str | None = None,
        wait_for_response: bool = False,
    ) -> PublishUserInteractionResponse:
        """Publish one request's interactions; a session id is made if missing.

        With `wait_for_response` the server waits for the automatic extraction
        this publish queued and reports what it added.
        """
        payload = {
            "user_id": user_id,
            "interaction_data_list": list(interactions),
            "source": source,
            "agent_version": agent_version,
            "session_id": session_id or uuid.uuid4().hex,
        }
        query = {"wait_for_response": "true"} if wait_for_response else None
        data = self._call("POST", "publish_interaction", payload, query)
        return _build(PublishUserInteractionResponse, data)

    def get_interactions(
        self,
        user_id: str,
        top_k: int = 30,
        start_time: Time = None,
        end_time: Time = None,
    ) -> list[Interaction]:
        data = self._post(
            "get_interactions",
            _drop_none(
                {
                    "user_id": user_id,
                    "top_k": top_k,
                    "start_time": _time(start_time),
                    "end_time": _time(end_time),
                }
            ),
        )
        return [_build(Interaction, item) for item in data.get("interactions", [])]

    # Profiles

    def get_profiles(
        self,
        user_id: str,
        status_filter: Sequence[str | None] | None = None,
        top_k: int = 30,
        query: str | None = None,
        source: str | None = None,
        start_time: Time = None,
        end_time: Time = None,
        profile_id: str | None = None,
    ) -> GetProfilesResponse:
        """A user's profiles; CURRENT only unless `status_filter` says otherwise.

        `status_filter` takes "current" (or None), "pending" and "archived".
        """
        data = self._post(
            "get_profiles",
            _drop_none(
                {
                    "user_id": user_id,
                    "status_filter": _statuses(status_filter),
                    "top_k": top_k,
                    "query": query,
                    "source": source,
                    "start_time": _time(start_time),
                    "end_time": _time(end_time),
                    "profile_id": profile_id,
                }
            ),
        )
        return GetProfilesResponse(
            success=data.get("success", False),
            user_profiles=[_build(Profile, p) for p in data.get("user_profiles", [])],
            msg=data.get("msg"),
        )

    def add_user_profile(
        self, user_profiles: Sequence[Mapping[str, Any]]
    ) -> AddUserProfileResponse:
        """Add profiles directly (each needs user_id and content)."""
        data = self._post("add_user_profile", {"user_profiles": list(user_profiles)})
        return _build(AddUserProfileResponse, data)

    def update_user_profile(
        self,
        user_id: str,
        profile_id: str,
        content: str | None = None,
        custom_features: dict[str, Any] | None = None,
    ) -> UpdateResponse:
        payload = {
            "user_id": user_id,
            "profile_id": profile_id,
            "content": content,
            "custom_features": custom_features,
        }
        return _build(UpdateResponse, self._post("update_user_profile", payload))

    def delete_profile(
        self, user_id: str, profile_id: str = "", search_query: str = ""
    ) -> DeleteUserProfileResponse:
        """Delete one profile, or the user's current profiles containing a text."""
        payload = {
            "user_id": user_id,
            "profile_id": profile_id,
            "search_query": search_query,
        }
        data = self._call("DELETE", "delete_profile", payload)
        return _build(DeleteUserProfileResponse, data)

    def rerun_profile_generation(
        self,
        user_id: str | None = None,
        start_time: Time = None,
        end_time: Time = None,
        source: str | None = None,
        extractor_names: list[str] | None = None,
        wait_for_response: bool = False,
    ) -> RerunProfileGenerationResponse:
        """Regenerate profiles from all interactions in scope, as PENDING.

        Without `wait_for_response` the result carries the operation id at once;
        with it, the finished result: profiles generated, users processed and
        failed.
        """
        data = self._post(
            "rerun_profile_generation",
            _drop_none(
                {
                    "user_id": user_id,
                    "start_time": _time(start_time),
                    "end_time": _time(end_time),
                    "source": source,
                    "extractor_names": extractor_names,
                }
            ),
        )
        result = _build(RerunProfileGenerationResponse, data)
        if not wait_for_response:
            return result
        status = self._wait(result.operation_id)
        return RerunProfileGenerationResponse(
            success=status.status == "completed",
            msg=_final_message(status, "Profile generation"),
            profiles_generated=status.stats.get("items_produced", 0),
            operation_id=result.operation_id,
            processed_users=status.processed_users,
            failed_users=status.failed_users,
        )

    def manual_profile_generation(
        self,
        user_id: str | None = None,
        source: str | None = None,
        extractor_names: list[str] | None = None,
    ) -> None:
        """Generate CURRENT profiles from the latest batch_size interactions.

        Fire-and-forget: returns once the run is queued. A precondition that
        fails (no batch_size, no extractor allowing manual runs) raises.
        """
        self._post(
            "manual_profile_generation",
            _drop_none(
                {
                    "user_id": user_id,
                    "source": source,
                    "extractor_names": extractor_names,
                }
            ),
        )

    def upgrade_profiles(
        self, user_id: str | None = None, only_affected_users: bool = True
    ) -> UpgradeProfilesResponse:
        """PENDING → CURRENT, CURRENT → ARCHIVED, old ARCHIVED deleted."""
        data = self._post(
            "upgrade_all_profiles",
            {"user_id": user_id, "only_affected_users": only_affected_users},
        )
        return _build(UpgradeProfilesResponse, data)

    def downgrade_profiles(
        self, user_id: str | None = None
    ) -> DowngradeProfilesResponse:
        """Undo an upgrade: ARCHIVED → CURRENT, CURRENT → ARCHIVED."""
        data = self._post("downgrade_all_profiles", {"user_id": user_id})
        return _build(DowngradeProfilesResponse, data)

    # Playbooks

    def rerun_playbook_generation(
        self,
        agent_version: str,
        start_time: Time = None,
        end_time: Time = None,
        source: str | None = None,
        playbook_name: str | None = None,
        wait_for_response: bool = False,
    ) -> RerunPlaybookGenerationResponse:
        """Regenerate user playbooks of one agent version, as PENDING."""
        data = self._post(
            "rerun_playbook_generation",
            _drop_none(
                {
                    "agent_version": agent_version,
                    "start_time": _time(start_time),
                    "end_time": _time(end_time),
                    "source": source,
                    "playbook_name": playbook_name,
                }
            ),
        )
        result = _build(RerunPlaybookGenerationResponse, data)
        if not wait_for_response:
            return result
        status = self._wait(result.operation_id)
        return RerunPlaybookGenerationResponse(
            success=status.status == "completed",
            msg=_final_message(status, "Playbook generation"),
            playbooks_generated=status.stats.get("items_produced", 0),
            operation_id=result.operation_id,
            processed_users=status.processed_users,
            failed_users=status.failed_users,
        )

    def manual_playbook_generation(
        self,
        agent_version: str,
        source: str | None = None,
        playbook_name: str | None = None,
    ) -> None:
        """Generate CURRENT user playbooks (fire-and-forget; raises on 4xx)."""
        self._post(
            "manual_playbook_generation",
            _drop_none(
                {
                    "agent_version": agent_version,
                    "source": source,
                    "playbook_name": playbook_name,
                }
            ),
        )

    def upgrade_user_playbooks(
        self, agent_version: str | None = None, playbook_name: str | None = None
    ) -> UpgradeUserPlaybooksResponse:
        data = self._post(
            "upgrade_all_user_playbooks",
            {"agent_version": agent_version, "playbook_name": playbook_name},
        )
        return _build(UpgradeUserPlaybooksResponse, data)

    def downgrade_user_playbooks(
        self, agent_version: str | None = None, playbook_name: str | None = None
    ) -> DowngradeUserPlaybooksResponse:
        data = self._post(
            "downgrade_all_user_playbooks",
            {"agent_version": agent_version, "playbook_name": playbook_name},
        )
        return _build(DowngradeUserPlaybooksResponse, data)

    def run_playbook_aggregation(
        self, agent_version: str, playbook_name: str, wait_for_response: bool = False
    ) -> RunPlaybookAggregationResponse:
        """Cluster CURRENT user playbooks into PENDING agent playbooks."""
        data = self._post(
            "run_playbook_aggregation",
            {"agent_version": agent_version, "playbook_name": playbook_name},
        )
        result = _build(RunPlaybookAggregationResponse, data)
        if not wait_for_response:
            return result
        status = self._wait(result.operation_id)
        return RunPlaybookAggregationResponse(
            success=status.status == "completed",
            message=_final_message(status, "Playbook aggregation"),
            operation_id=result.operation_id,
        )

    def get_user_playbooks(
        self,
        user_id: str | None = None,
        agent_version: str | None = None,
        playbook_name: str | None = None,
        status_filter: Sequence[str | None] | None = None,
        query: str | None = None,
        limit: int = 100,
    ) -> GetUserPlaybooksResponse:
        data = self._post(
            "get_user_playbooks",
            _drop_none(
                {
                    "user_id": user_id,
                    "agent_version": agent_version,
                    "playbook_name": playbook_name,
                    "status_filter": _statuses(status_filter),
                    "query": query,
                    "limit": limit,
                }
            ),
        )
        return GetUserPlaybooksResponse(
            success=data.get("success", False),
            user_playbooks=[
                _build(UserPlaybook, p) for p in data.get("user_playbooks", [])
            ],
            msg=data.get("msg"),
        )

    def get_agent_playbooks(
        self,
        agent_version: str | None = None,
        playbook_name: str | None = None,
        playbook_status_filter: str | None = None,
        query: str | None = None,
        limit: int = 100,
    ) -> GetAgentPlaybooksResponse:
        """Agent playbooks; APPROVED only unless `playbook_status_filter` is set."""
        data = self._post(
            "get_agent_playbooks",
            _drop_none(
                {
                    "agent_version": agent_version,
                    "playbook_name": playbook_name,
                    "playbook_status_filter": playbook_status_filter,
                    "query": query,
                    "limit": limit,
                }
            ),
        )
        return GetAgentPlaybooksResponse(
            success=data.get("success", False),
            agent_playbooks=[
                _build(AgentPlaybook, p) for p in data.get("agent_playbooks", [])
            ],
            msg=data.get("msg"),
        )

    def update_agent_playbook_status(
        self, agent_playbook_id: int, playbook_status: str
    ) -> UpdateResponse:
        """Approve, reject or reopen ("pending") an agent playbook."""
        data = self._post(
            "update_agent_playbook_status",
            {
                "agent_playbook_id": agent_playbook_id,
                "playbook_status": playbook_status,
            },
        )
        return _build(UpdateResponse, data)

    # Operations

    def get_operation_status(
        self, service_name: str | None = None, operation_id: int | None = None
    ) -> GetOperationStatusResponse:
        """One operation by id, or the latest of a service (profile_generation,
        playbook_generation, playbook_aggregation)."""
        data = self._call(
            "GET",
            "get_operation_status",
            query={"service_name": service_name, "operation_id": operation_id},
        )
        info = data.get("operation_status")
        return GetOperationStatusResponse(
            success=data.get("success", False),
            operation_status=_build(OperationStatusInfo, info) if info else None,
            msg=data.get("msg"),
        )

    def cancel_operation(
        self, service_name: str | None = None, operation_id: int | None = None
    ) -> CancelOperationResponse:
        """Cancel one operation, or the active runs of a service (None: both)."""
        data = self._post(
            "cancel_operation",
            {"service_name": service_name, "operation_id": operation_id},
        )
        return _build(CancelOperationResponse, data)

    def retry_operation(self, operation_id: int) -> OperationStarted:
        """Run the users a finished operation did not complete again."""
        data = self._post("retry_operation", {"operation_id": operation_id})
        return _build(OperationStarted, data)

    def whoami(self) -> dict[str, Any]:
        return self._call("GET", "whoami")


def _error_message(exc: urllib.error.HTTPError) -> str:
    if 300 <= exc.code < 400:
        location = exc.headers.get("Location", "")
        return f"Unexpected redirect to {location!r}; check the server URL."
    try:
        data = json.loads(exc.read() or b"{}")
    except ValueError:
        data = {}
    if isinstance(data, dict) and data.get("msg"):
        return str(data["msg"])
    return exc.reason if isinstance(exc.reason, str) else f"HTTP {exc.code}"


def _final_message(status: OperationStatusInfo, label: str) -> str:
    if status.status == "completed":
        failed = f", {status.failed_users} failed" if status.failed_users else ""
        return (
            f"{label} completed: {status.stats.get('items_produced', 0)} item(s) "
            f"from {status.processed_users} user(s){failed}."
        )
    if status.status == "failed":
        return status.error_message or f"{label} failed."
    return f"{label} was cancelled."
