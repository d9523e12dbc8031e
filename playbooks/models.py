"""Playbooks: rules learned per user, and the agent-wide rules made of them."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from reflexio_admin.knowledge import ExtractorBase, GenerationBase, KnowledgeItemBase
from reflexio_admin.models import DEFAULT_AGENT_VERSION, Operation

DEFAULT_PLAYBOOK_EXTRACTOR = "default_playbook_extractor"


class PlaybookExtractor(ExtractorBase):
    """A playbook extractor; its name is the `playbook_name` of what it makes."""

    aggregation_enabled = models.BooleanField(default=True)
    min_cluster_size = models.PositiveIntegerField(
        default=2, validators=[MinValueValidator(1)]
    )
    clustering_similarity = models.FloatField(
        default=0.75,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Cosine similarity above which user playbooks share a cluster.",
    )

    class Meta(ExtractorBase.Meta):
        pass


class PlaybookGeneration(GenerationBase):
    user_id = models.CharField(max_length=255)
    agent_version = models.CharField(max_length=255, default=DEFAULT_AGENT_VERSION)
    playbook_name = models.CharField(max_length=100)

    SCOPE_FIELDS = ("user_id", "agent_version", "playbook_name")

    class Meta:
        indexes = [models.Index(fields=["status", "agent_version", "playbook_name"])]
        constraints = [
            models.UniqueConstraint(
                fields=["user_id", "agent_version", "playbook_name"],
                condition=Q(status="current"),
                name="one_current_playbook_generation_per_scope",
            ),
            models.UniqueConstraint(
                fields=["user_id", "agent_version", "playbook_name"],
                condition=Q(status="pending"),
                name="one_pending_playbook_generation_per_scope",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.status} playbooks of {self.user_id} "
            f"({self.agent_version}, {self.playbook_name})"
        )


class UserPlaybook(KnowledgeItemBase):
    user_id = models.CharField(max_length=255)
    agent_version = models.CharField(max_length=255, default=DEFAULT_AGENT_VERSION)
    playbook_name = models.CharField(max_length=100)
    generation = models.ForeignKey(
        PlaybookGeneration, on_delete=models.CASCADE, related_name="playbooks"
    )
    trigger = models.TextField(blank=True, default="")
    rationale = models.TextField(blank=True, default="")

    class Meta:
        indexes = [
            models.Index(fields=["status", "-id"]),
            models.Index(fields=["agent_version", "playbook_name", "status", "-id"]),
            # The list filtered by name alone, across agent versions.
            models.Index(fields=["playbook_name", "status", "-id"]),
            models.Index(fields=["user_id", "status", "-id"]),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} ({self.agent_version}): {self.content[:60]}"


class Approval(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class AgentPlaybook(models.Model):
    """An agent-wide rule consolidated from a cluster of user playbooks."""

    agent_version = models.CharField(max_length=255, default=DEFAULT_AGENT_VERSION)
    playbook_name = models.CharField(max_length=100)
    trigger = models.TextField(blank=True, default="")
    content = models.TextField()
    rationale = models.TextField(blank=True, default="")
    approval = models.CharField(
        max_length=16, choices=Approval.choices, default=Approval.PENDING
    )
    user_playbooks = models.ManyToManyField(
        UserPlaybook, blank=True, related_name="agent_playbooks"
    )
    # The user playbooks it was made from, kept as ids so the link survives
    # when an upgrade later deletes an archived user playbook.
    source_user_playbook_ids = models.JSONField(default=list, blank=True)
    operation = models.ForeignKey(
        Operation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    embedding = models.JSONField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["agent_version", "playbook_name", "approval", "-id"]),
            # The list filtered by name alone, across agent versions.
            models.Index(fields=["playbook_name", "approval", "-id"]),
            models.Index(fields=["approval", "-id"]),
        ]

    def __str__(self) -> str:
        return f"{self.agent_version}/{self.playbook_name}: {self.content[:60]}"
