"""Data shared by profiles and playbooks: conversations, runs, audit and keys."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from reflexio_admin import roles

DEFAULT_AGENT_VERSION = "agent-v0"


def new_request_id() -> str:
    return uuid.uuid4().hex


class Request(models.Model):
    """One request an agent published: a group of interactions in a session."""

    request_id = models.CharField(max_length=255, unique=True, default=new_request_id)
    user_id = models.CharField(max_length=255)
    source = models.CharField(max_length=255, blank=True, default="")
    agent_version = models.CharField(max_length=255, default=DEFAULT_AGENT_VERSION)
    session_id = models.CharField(max_length=255)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["user_id", "created_at"]),
            models.Index(fields=["session_id"]),
            models.Index(fields=["created_at"]),
        ]

    def __str__(self) -> str:
        return f"request {self.request_id} of {self.user_id}"


class Interaction(models.Model):
    """One turn of a conversation.

    `user_id`, `source` and `agent_version` repeat the request's values so that
    the scope of an operation (a user, a source, an agent version, a window of
    time) is read from one table through one index.
    """

    request = models.ForeignKey(
        Request, on_delete=models.CASCADE, related_name="interactions"
    )
    user_id = models.CharField(max_length=255)
    source = models.CharField(max_length=255, blank=True, default="")
    agent_version = models.CharField(max_length=255, default=DEFAULT_AGENT_VERSION)
    role = models.CharField(max_length=1000, default="User")
    content = models.TextField(blank=True, default="")
    tools_used = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["user_id", "created_at", "id"]),
            models.Index(fields=["agent_version", "user_id", "created_at", "id"]),
            models.Index(fields=["created_at", "id"]),
        ]

    def __str__(self) -> str:
        return f"{self.role} turn {self.pk} of {self.user_id}"


class GenerationSettings(models.Model):
    """The single row of generation settings (primary key 1)."""

    batch_size = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Interactions per extraction window. Unset: the whole history "
        "at once for reruns; manual generation refuses to run.",
    )
    batch_interval = models.PositiveIntegerField(
        default=10,
        help_text="New interactions of a user that trigger automatic extraction.",
    )
    chat_model = models.CharField(max_length=200, blank=True, default="")
    embedding_model = models.CharField(max_length=200, blank=True, default="")
    modified_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "generation settings"

    def __str__(self) -> str:
        return "generation settings"

    def save(self, *args: Any, **kwargs: Any) -> None:
        super().save(*args, **kwargs)
        from reflexio_admin.llm import use_model_names

        use_model_names(self.chat_model, self.embedding_model)

    @classmethod
    def load(cls) -> GenerationSettings:
        obj, _ = cls.objects.get_or_create(pk=1, defaults={"batch_size": 10})
        return obj


class OperationKind(models.TextChoices):
    RERUN_PROFILES = "rerun_profile_generation", "Rerun profile generation"
    MANUAL_PROFILES = "manual_profile_generation", "Manual profile generation"
    AUTO_PROFILES = "auto_profile_extraction", "Automatic profile extraction"
    UPGRADE_PROFILES = "upgrade_profiles", "Upgrade profiles"
    DOWNGRADE_PROFILES = "downgrade_profiles", "Downgrade profiles"
    RERUN_PLAYBOOKS = "rerun_playbook_generation", "Rerun playbook generation"
    MANUAL_PLAYBOOKS = "manual_playbook_generation", "Manual playbook generation"
    AUTO_PLAYBOOKS = "auto_playbook_extraction", "Automatic playbook extraction"
    UPGRADE_PLAYBOOKS = "upgrade_user_playbooks", "Upgrade user playbooks"
    DOWNGRADE_PLAYBOOKS = "downgrade_user_playbooks", "Downgrade user playbooks"
    AGGREGATE_PLAYBOOKS = "run_playbook_aggregation", "Playbook aggregation"


class OperationStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_STATUSES = (OperationStatus.QUEUED, OperationStatus.RUNNING)
FINAL_STATUSES = (
    OperationStatus.COMPLETED,
    OperationStatus.FAILED,
    OperationStatus.CANCELLED,
)


class Operation(models.Model):
    """One run of an operation, from the request that started it to its end."""

    kind = models.CharField(max_length=64, choices=OperationKind.choices)
    params = models.JSONField(default=dict, blank=True)
    # The part of `params` that decides which operations may not overlap,
    # e.g. "user:u1" or "*" for every user.
    scope_key = models.CharField(max_length=512, default="*")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="operations",
    )
    retry_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries"
    )
    status = models.CharField(
        max_length=16, choices=OperationStatus.choices, default=OperationStatus.QUEUED
    )
    cancel_requested = models.BooleanField(default=False)
    total_users = models.PositiveIntegerField(default=0)
    processed_users = models.PositiveIntegerField(default=0)
    failed_users = models.PositiveIntegerField(default=0)
    items_produced = models.PositiveIntegerField(default=0)
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)
    llm_calls = models.PositiveIntegerField(default=0)
    error_message = models.TextField(blank=True, default="")
    result = models.JSONField(default=dict, blank=True)
    rq_job_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["status", "kind"]),
            models.Index(fields=["kind", "-id"]),
        ]
        constraints = [
            # The database refuses a second active run of the same kind and scope.
            models.UniqueConstraint(
                fields=["kind", "scope_key"],
                condition=Q(status__in=["queued", "running"]),
                name="one_active_operation_per_kind_and_scope",
            ),
        ]
        # The rights behind the console roles; see reflexio_admin.roles.
        permissions = roles.PERMISSIONS

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def progress_percentage(self) -> float:
        if self.status == OperationStatus.COMPLETED:
            return 100.0
        if not self.total_users:
            return 0.0
        done = self.processed_users + self.failed_users
        return round(min(100.0, 100.0 * done / self.total_users), 1)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class OperationUser(models.Model):
    """The outcome of one user inside one operation."""

    class State(models.TextChoices):
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    operation = models.ForeignKey(
        Operation, on_delete=models.CASCADE, related_name="user_results"
    )
    user_id = models.CharField(max_length=255)
    state = models.CharField(max_length=8, choices=State.choices)
    items = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    finished_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["operation", "user_id"], name="one_result_per_user_and_run"
            ),
        ]
        indexes = [models.Index(fields=["operation", "state"])]

    def __str__(self) -> str:
        return f"{self.user_id} in operation {self.operation_id}: {self.state}"


class AuditEvent(models.Model):
    """Who did what to which scope, when, and what it changed."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_events",
    )
    actor_name = models.CharField(max_length=150, blank=True, default="")
    action = models.CharField(max_length=64)
    scope = models.JSONField(default=dict, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    operation = models.ForeignKey(
        Operation,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_events",
    )
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["action", "-id"]),
            models.Index(fields=["actor", "-id"]),
        ]

    def __str__(self) -> str:
        return f"{self.actor_name or 'system'}: {self.action}"


def hash_api_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiKey(models.Model):
    """A Bearer key for the HTTP API. Only a hash of the key is stored."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100, blank=True, default="")
    prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    @classmethod
    def issue(cls, *, user: Any, name: str = "") -> tuple[ApiKey, str]:
        """Create a key and return it with the raw secret, which is never stored."""
        raw = "rfx_" + secrets.token_urlsafe(32)
        key = cls.objects.create(
            user=user, name=name, prefix=raw[:12], key_hash=hash_api_key(raw)
        )
        return key, raw


class ExtractionCursor(models.Model):
    """How far automatic extraction has read one user's interactions.

    `scope_key` is "profiles/<user_id>" or "playbooks/<agent_version>/<user_id>".
    """

    scope_key = models.CharField(max_length=600, unique=True)
    last_interaction_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.scope_key} at {self.last_interaction_id}"


class DeletedItem(models.Model):
    """A snapshot of knowledge that an upgrade deleted, kept for the audit trail."""

    audit_event = models.ForeignKey(
        AuditEvent, on_delete=models.CASCADE, related_name="deleted_items"
    )
    kind = models.CharField(max_length=32)
    item_id = models.CharField(max_length=64)
    user_id = models.CharField(max_length=255)
    data = models.JSONField(default=dict)

    class Meta:
        indexes = [models.Index(fields=["user_id", "kind"])]

    def __str__(self) -> str:
        return f"deleted {self.kind} {self.item_id}"
