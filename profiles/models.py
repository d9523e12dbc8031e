"""User profiles: short facts about one user, and the extractors that find them."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from reflexio_admin.knowledge import ExtractorBase, GenerationBase, KnowledgeItemBase
from reflexio_admin.status import TimeToLive

DEFAULT_PROFILE_EXTRACTOR = "default_profile_extractor"


def new_profile_id() -> str:
    return uuid.uuid4().hex


class ProfileExtractor(ExtractorBase):
    class Meta(ExtractorBase.Meta):
        pass


class ProfileGeneration(GenerationBase):
    user_id = models.CharField(max_length=255)
    extractor_name = models.CharField(max_length=100)

    SCOPE_FIELDS = ("user_id", "extractor_name")

    class Meta:
        indexes = [models.Index(fields=["status", "user_id"])]
        constraints = [
            models.UniqueConstraint(
                fields=["user_id", "extractor_name"],
                condition=Q(status="current"),
                name="one_current_profile_generation_per_scope",
            ),
            models.UniqueConstraint(
                fields=["user_id", "extractor_name"],
                condition=Q(status="pending"),
                name="one_pending_profile_generation_per_scope",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.status} profiles of {self.user_id} ({self.extractor_name})"


class UserProfile(KnowledgeItemBase):
    profile_id = models.CharField(max_length=64, unique=True, default=new_profile_id)
    user_id = models.CharField(max_length=255)
    extractor_name = models.CharField(max_length=100)
    generation = models.ForeignKey(
        ProfileGeneration, on_delete=models.CASCADE, related_name="profiles"
    )
    time_to_live = models.CharField(
        max_length=16, choices=TimeToLive.choices, default=TimeToLive.INFINITY
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    custom_features = models.JSONField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "-id"]),
            models.Index(fields=["user_id", "status", "-id"]),
            models.Index(fields=["extractor_name", "status", "-id"]),
            models.Index(fields=["source", "status", "-id"]),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.content[:60]}"
