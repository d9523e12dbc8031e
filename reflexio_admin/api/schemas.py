"""Request bodies of the JSON API, mirroring Reflexio's request models.

Field names, defaults and shapes follow `reflexio/models/api_schema/` of the
published `reflexio-client` package so that it works against this server
unchanged. Limits are ours: they keep every request cheap and fit the columns
the values are stored in. Unknown keys are ignored, except in publish payloads,
where they are reported back as warnings the way Reflexio does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

DEFAULT_AGENT_VERSION = "agent-v0"
MAX_INTERACTIONS_PER_PUBLISH = 1_000
MAX_CONTENT_CHARS = 1_000_000
MAX_ROLE_CHARS = 1_000
MAX_ID_CHARS = 255
MAX_LIST_ITEMS = 1_000
MAX_BULK_IDS = 10_000
# Row ids are 64-bit in the database.
MAX_ID = 2**63 - 1
# Unix seconds up to the year 3000: beyond that `datetime` cannot represent it.
MAX_TIMESTAMP = 32_503_680_000


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value.strip()


def _aware(value: datetime) -> datetime:
    """Read naive datetimes as UTC, as Reflexio's server does."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


RequiredId = Annotated[
    str, Field(min_length=1, max_length=MAX_ID_CHARS), AfterValidator(_not_blank)
]
_Id = Annotated[str, Field(max_length=MAX_ID_CHARS)]
# An optional id or filter; an empty string means "not given".
OptionalId = Annotated[_Id | None, BeforeValidator(_blank_to_none)]
Timestamp = Annotated[datetime, AfterValidator(_aware)]
RowId = Annotated[int, Field(gt=0, le=MAX_ID)]
StatusName = Literal["current", "pending", "archived"]
Approval = Literal["pending", "approved", "rejected"]
TimeToLive = Literal[
    "one_day", "one_week", "one_month", "one_quarter", "one_year", "infinity"
]


class WireModel(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _TimeRange(WireModel):
    start_time: Timestamp | None = None
    end_time: Timestamp | None = None

    @model_validator(mode="after")
    def _check_time_range(self) -> Self:
        if self.start_time and self.end_time and self.end_time <= self.start_time:
            raise ValueError("end_time must be after start_time")
        return self


def describe_errors(error: ValidationError, prefix: str = "") -> str:
    """Turn pydantic errors into "<field>: <problem>; ..." for the caller."""
    parts = []
    for item in error.errors(include_url=False)[:20]:
        where = prefix
        for part in item["loc"]:
            where += f"[{part}]" if isinstance(part, int) else f".{part}"
        message = item["msg"].removeprefix("Value error, ")
        parts.append(f"{where.lstrip('.')}: {message}" if where else message)
    return "; ".join(parts)


def nul_path(value: Any, path: str = "") -> str | None:
    """Where a NUL character hides in decoded JSON, or None.

    PostgreSQL cannot store NUL in text or JSON, so input carrying one is
    refused up front instead of failing at the database.
    """
    if isinstance(value, str):
        return (path or "body") if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                return where
            if found := nul_path(item, where):
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            if found := nul_path(item, f"{path}[{index}]"):
                return found
    return None


# Publishing


class ToolUsed(BaseModel):
    model_config = ConfigDict(extra="ignore")

    tool_name: str = Field(min_length=1, max_length=MAX_ID_CHARS)
    tool_data: dict[str, Any] = Field(default_factory=dict)
    # Reflexio coerces rather than rejects this one; so do we.
    status: Annotated[
        str, BeforeValidator(lambda v: "" if v is None else str(v)[:100])
    ] = ""


class InteractionData(BaseModel):
    """One turn as published. Unknown keys are kept by name for a warning."""

    model_config = ConfigDict(extra="allow")

    created_at: int | None = Field(default=None, ge=0, le=MAX_TIMESTAMP)
    role: str = Field(default="User", max_length=MAX_ROLE_CHARS)
    content: str = Field(default="", max_length=MAX_CONTENT_CHARS)
    tools_used: list[ToolUsed] = Field(default_factory=list, max_length=MAX_LIST_ITEMS)
    # Accepted for compatibility with Reflexio's payload but not stored here;
    # a non-empty value earns a warning so the caller knows it was dropped.
    shadow_content: str = Field(default="", max_length=MAX_CONTENT_CHARS)
    expert_content: str = Field(default="", max_length=MAX_CONTENT_CHARS)
    user_action: str = "none"
    user_action_description: str = ""
    interacted_image_url: str = ""
    image_encoding: str = ""
    citations: list[Any] = Field(default_factory=list, max_length=MAX_LIST_ITEMS)
    retrieved_learnings: list[Any] = Field(
        default_factory=list, max_length=MAX_LIST_ITEMS
    )

    def is_empty(self) -> bool:
        return not self.content.strip() and not self.tools_used

    def dropped_fields(self) -> list[str]:
        """Fields the caller filled in that this server does not store."""
        defaults = {"user_action": "none"}
        return [
            name
            for name in NOT_STORED_FIELDS
            if getattr(self, name) not in ("", [], defaults.get(name))
        ]

    def unknown_fields(self) -> list[str]:
        return sorted(self.model_extra or {})


NOT_STORED_FIELDS = (
    "shadow_content",
    "expert_content",
    "user_action",
    "user_action_description",
    "interacted_image_url",
    "image_encoding",
    "citations",
    "retrieved_learnings",
)


class PublishUserInteractionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    request_id: OptionalId = None
    user_id: RequiredId
    interaction_data_list: list[InteractionData] = Field(
        min_length=1, max_length=MAX_INTERACTIONS_PER_PUBLISH
    )
    source: str = Field(default="", max_length=MAX_ID_CHARS)
    agent_version: str = Field(default="", max_length=MAX_ID_CHARS)
    session_id: RequiredId
    # Reflexio's switches: accepted, and explained in the docs.
    skip_aggregation: bool = False
    force_extraction: bool = False
    evaluation_only: bool = False
    override_learning_stall: bool = False
    retrieval_experiment_id: str | None = None
    retrieval_experiment_arm: str | None = None

    @model_validator(mode="after")
    def _check_switches(self) -> Self:
        if self.evaluation_only:
            raise ValueError(
                "evaluation_only is not supported by this server: every stored "
                "interaction is read by profile and playbook generation"
            )
        return self

    def unknown_fields(self) -> list[str]:
        return sorted(self.model_extra or {})


# Reading


class GetInteractionsRequest(_TimeRange):
    user_id: RequiredId
    top_k: int = Field(default=30, gt=0, le=MAX_LIST_ITEMS)


class GetRequestsRequest(_TimeRange):
    user_id: OptionalId = None
    request_id: OptionalId = None
    session_id: OptionalId = None
    source: OptionalId = None
    top_k: int = Field(default=30, gt=0, le=100)
    offset: int = Field(default=0, ge=0, le=1_000_000)


class GetUserProfilesRequest(_TimeRange):
    user_id: RequiredId
    profile_id: OptionalId = None
    query: str | None = Field(default=None, max_length=1_000)
    top_k: int = Field(default=30, gt=0, le=MAX_LIST_ITEMS)
    source: OptionalId = None
    profile_time_to_live: TimeToLive | None = None
    # None (the field) means CURRENT only; a null inside the list is CURRENT.
    status_filter: list[StatusName | None] | None = Field(default=None, max_length=3)
    tags: list[str] | None = None


class GetAllProfilesRequest(WireModel):
    """Query parameters of GET get_all_profiles; times are unix seconds."""

    limit: int = Field(default=100, gt=0, le=MAX_LIST_ITEMS)
    status_filter: Annotated[StatusName | None, BeforeValidator(_blank_to_none)] = None
    user_id: OptionalId = None
    profile_id: OptionalId = None
    query: str | None = Field(default=None, max_length=1_000)
    source: OptionalId = None
    profile_time_to_live: TimeToLive | None = None
    start_time: int | None = Field(default=None, ge=0, le=MAX_TIMESTAMP)
    end_time: int | None = Field(default=None, ge=0, le=MAX_TIMESTAMP)


# Profiles


class UserProfileIn(WireModel):
    """A profile to add. Reflexio requires more fields; we fill them in."""

    profile_id: OptionalId = None
    user_id: RequiredId
    content: str = Field(min_length=1, max_length=MAX_CONTENT_CHARS)
    generated_from_request_id: str = Field(default="", max_length=MAX_ID_CHARS)
    profile_time_to_live: TimeToLive = "infinity"
    custom_features: dict[str, Any] | None = None
    source: str | None = Field(default=None, max_length=MAX_ID_CHARS)
    status: StatusName | None = None
    extractor_names: list[str] | None = Field(default=None, max_length=1)
    source_interaction_ids: list[RowId] = Field(
        default_factory=list, max_length=MAX_LIST_ITEMS
    )


class AddUserProfileRequest(WireModel):
    user_profiles: list[UserProfileIn] = Field(min_length=1, max_length=MAX_LIST_ITEMS)


class UpdateUserProfileRequest(WireModel):
    user_id: RequiredId
    profile_id: RequiredId
    content: str | None = Field(default=None, max_length=MAX_CONTENT_CHARS)
    custom_features: dict[str, Any] | None = None


class DeleteUserProfileRequest(WireModel):
    user_id: RequiredId
    profile_id: str = Field(default="", max_length=MAX_ID_CHARS)
    search_query: str = Field(default="", max_length=1_000)


class DeleteProfilesByIdsRequest(WireModel):
    profile_ids: list[str] = Field(min_length=1, max_length=MAX_BULK_IDS)


class RerunProfileGenerationRequest(_TimeRange):
    user_id: OptionalId = None
    source: OptionalId = None
    extractor_names: list[str] | None = Field(default=None, max_length=100)


class ManualProfileGenerationRequest(WireModel):
    user_id: OptionalId = None
    source: OptionalId = None
    extractor_names: list[str] | None = Field(default=None, max_length=100)


class UpgradeProfilesRequest(WireModel):
    user_id: OptionalId = None
    profile_ids: list[str] | None = None
    only_affected_users: bool = True


class DowngradeProfilesRequest(WireModel):
    user_id: OptionalId = None
    profile_ids: list[str] | None = None
    only_affected_users: bool = False


# Operations


class GetOperationStatusRequest(WireModel):
    service_name: str | None = Field(default=None, max_length=64)
    operation_id: RowId | None = None


class CancelOperationRequest(WireModel):
    service_name: str | None = Field(default=None, max_length=64)
    operation_id: RowId | None = None


class RetryOperationRequest(WireModel):
    operation_id: RowId


# Playbooks


def _default_version(value: str | None) -> str:
    return (value or "").strip() or DEFAULT_AGENT_VERSION


AgentVersion = Annotated[_Id | None, AfterValidator(_default_version)]


class GetUserPlaybooksRequest(_TimeRange):
    limit: int = Field(default=100, gt=0, le=MAX_LIST_ITEMS)
    user_playbook_id: RowId | None = None
    user_id: OptionalId = None
    request_id: OptionalId = None
    query: str | None = Field(default=None, max_length=1_000)
    playbook_name: OptionalId = None
    agent_version: OptionalId = None
    status_filter: list[StatusName | None] | None = Field(default=None, max_length=3)
    tags: list[str] | None = None


class GetAgentPlaybooksRequest(_TimeRange):
    limit: int = Field(default=100, gt=0, le=MAX_LIST_ITEMS)
    agent_playbook_id: RowId | None = None
    query: str | None = Field(default=None, max_length=1_000)
    playbook_name: OptionalId = None
    agent_version: OptionalId = None
    status_filter: list[StatusName | None] | None = Field(default=None, max_length=3)
    # None means APPROVED, as in Reflexio: what agents should read.
    playbook_status_filter: Approval | None = None
    tags: list[str] | None = None


class UserPlaybookIn(WireModel):
    user_id: OptionalId = None
    agent_version: AgentVersion = DEFAULT_AGENT_VERSION
    request_id: str = Field(default="", max_length=MAX_ID_CHARS)
    playbook_name: str = Field(default="", max_length=100)
    content: str = Field(default="", max_length=MAX_CONTENT_CHARS)
    trigger: str | None = Field(default=None, max_length=MAX_CONTENT_CHARS)
    rationale: str | None = Field(default=None, max_length=MAX_CONTENT_CHARS)
    status: StatusName | None = None
    source: str | None = Field(default=None, max_length=MAX_ID_CHARS)
    source_interaction_ids: list[RowId] = Field(
        default_factory=list, max_length=MAX_LIST_ITEMS
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        if not self.user_id:
            raise ValueError("user_id is required: user playbooks belong to a user")
        if not self.content.strip() and not (self.trigger or "").strip():
            raise ValueError("at least one of content or trigger must be provided")
        return self


class AddUserPlaybookRequest(WireModel):
    user_playbooks: list[UserPlaybookIn] = Field(
        min_length=1, max_length=MAX_LIST_ITEMS
    )


class UpdateUserPlaybookRequest(WireModel):
    user_playbook_id: RowId
    playbook_name: str | None = Field(default=None, max_length=100)
    content: str | None = Field(default=None, max_length=MAX_CONTENT_CHARS)
    trigger: str | None = Field(default=None, max_length=MAX_CONTENT_CHARS)
    rationale: str | None = Field(default=None, max_length=MAX_CONTENT_CHARS)


class DeleteUserPlaybookRequest(WireModel):
    user_playbook_id: RowId


class RerunPlaybookGenerationRequest(_TimeRange):
    agent_version: AgentVersion = DEFAULT_AGENT_VERSION
    playbook_name: OptionalId = None
    source: OptionalId = None


class ManualPlaybookGenerationRequest(WireModel):
    agent_version: AgentVersion = DEFAULT_AGENT_VERSION
    source: OptionalId = None
    playbook_name: OptionalId = None


class UpgradeUserPlaybooksRequest(WireModel):
    agent_version: OptionalId = None
    playbook_name: OptionalId = None
    user_id: OptionalId = None
    archive_current: bool = True


class DowngradeUserPlaybooksRequest(WireModel):
    agent_version: OptionalId = None
    playbook_name: OptionalId = None
    user_id: OptionalId = None


class RunPlaybookAggregationRequest(WireModel):
    agent_version: AgentVersion = DEFAULT_AGENT_VERSION
    playbook_name: RequiredId


class UpdatePlaybookStatusRequest(WireModel):
    agent_playbook_id: RowId
    playbook_status: Approval


class UpdateAgentPlaybookRequest(WireModel):
    agent_playbook_id: RowId
    playbook_name: str | None = Field(default=None, max_length=100)
    content: str | None = Field(default=None, max_length=MAX_CONTENT_CHARS)
    trigger: str | None = Field(default=None, max_length=MAX_CONTENT_CHARS)
    rationale: str | None = Field(default=None, max_length=MAX_CONTENT_CHARS)
    playbook_status: Approval | None = None
