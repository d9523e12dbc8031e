"""Abstract models for generated knowledge: generations and the items in them.

A *generation* is the set of items one run produced for one scope (a user and
an extractor for profiles; a user, an agent version and a playbook name for user
playbooks). Each scope has at most one current, one pending and one archived
generation; the status is stored on the generation and repeated on every item
so that lists filter by status through an index.
"""

from __future__ import annotations

from django.db import models

from reflexio_admin.models import Operation
from reflexio_admin.status import Status


class GenerationBase(models.Model):
    status = models.CharField(max_length=16, choices=Status.choices)
    operation = models.ForeignKey(
        Operation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # What a pending generation was compared against when it was made, so a
    # review can tell that CURRENT or the conversation has moved on since.
    current_digest = models.CharField(max_length=64, blank=True, default="")
    last_interaction_id = models.BigIntegerField(null=True, blank=True)
    # Set when a downgrade archived this generation: a second downgrade must
    # not swap it back, so such a generation is not restored again.
    archived_by_downgrade = models.BooleanField(default=False)

    # The fields that name the scope, e.g. ("user_id", "extractor_name").
    SCOPE_FIELDS: tuple[str, ...] = ()

    class Meta:
        abstract = True

    def scope(self) -> dict[str, str]:
        return {field: getattr(self, field) for field in self.SCOPE_FIELDS}


class KnowledgeItemBase(models.Model):
    status = models.CharField(max_length=16, choices=Status.choices)
    content = models.TextField()
    source = models.CharField(max_length=255, blank=True, default="")
    source_interaction_ids = models.JSONField(default=list, blank=True)
    request_id = models.CharField(max_length=255, blank=True, default="")
    operation = models.ForeignKey(
        Operation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    embedding = models.JSONField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class ExtractorBase(models.Model):
    name = models.SlugField(max_length=100, unique=True)
    definition_prompt = models.TextField(
        help_text="What to extract, in plain words. Sent to the model."
    )
    context_prompt = models.TextField(
        blank=True, default="", help_text="Optional background about the agent."
    )
    enabled_sources = models.JSONField(
        default=list,
        blank=True,
        help_text="Sources this extractor reads; empty means every source.",
    )
    allow_manual_trigger = models.BooleanField(default=True)
    batch_size = models.PositiveIntegerField(
        null=True, blank=True, help_text="Overrides the global batch size."
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def reads_source(self, source: str | None) -> bool:
        return not self.enabled_sources or not source or source in self.enabled_sources
