"""The whole generation configuration as one JSON document.

Shared by `dump_config` and `load_config`: generation settings, profile
extractors, and playbook extractors with their aggregation settings.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from django.db import transaction
from django.db.models import Model
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from playbooks.models import PlaybookExtractor
from profiles.models import ProfileExtractor
from reflexio_admin.audit import audit_record
from reflexio_admin.models import GenerationSettings

VERSION = 1
SETTINGS_FIELDS = ("batch_size", "batch_interval", "chat_model", "embedding_model")
EXTRACTOR_FIELDS = (
    "definition_prompt",
    "context_prompt",
    "enabled_sources",
    "allow_manual_trigger",
    "batch_size",
    "enabled",
)
# Aggregation settings as written in the file, and the model field of each.
AGGREGATION_FIELDS = {
    "enabled": "aggregation_enabled",
    "min_cluster_size": "min_cluster_size",
    "clustering_similarity": "clustering_similarity",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GenerationSettingsConfig(_Strict):
    batch_size: int | None = Field(default=None, ge=1)
    batch_interval: int = Field(default=10, ge=1)
    chat_model: str = Field(default="", max_length=200)
    embedding_model: str = Field(default="", max_length=200)


class ExtractorConfig(_Strict):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[-a-zA-Z0-9_]+$")
    definition_prompt: str = Field(min_length=1)
    context_prompt: str = ""
    enabled_sources: list[str] = Field(default_factory=list)
    allow_manual_trigger: bool = True
    batch_size: int | None = Field(default=None, ge=1)
    enabled: bool = True

    @field_validator("definition_prompt")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


class AggregationConfig(_Strict):
    enabled: bool = True
    min_cluster_size: int = Field(default=2, ge=1)
    clustering_similarity: float = Field(default=0.75, ge=0.0, le=1.0)


class PlaybookExtractorConfig(ExtractorConfig):
    aggregation: AggregationConfig = Field(default_factory=AggregationConfig)


def _unique(items: list[Any], label: str) -> None:
    names = [item.name for item in items]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"{label} names must be unique: {', '.join(repeated)}")


class Configuration(_Strict):
    version: Literal[1] = VERSION
    generation_settings: GenerationSettingsConfig
    profile_extractors: list[ExtractorConfig]
    playbook_extractors: list[PlaybookExtractorConfig]

    @model_validator(mode="after")
    def _check_names(self) -> Self:
        _unique(self.profile_extractors, "profile extractor")
        _unique(self.playbook_extractors, "playbook extractor")
        return self


def config_dump() -> dict[str, Any]:
    """The current configuration, in the shape `config_apply` reads."""
    current = GenerationSettings.load()
    return {
        "version": VERSION,
        "generation_settings": {
            name: getattr(current, name) for name in SETTINGS_FIELDS
        },
        "profile_extractors": [
            _extractor(e) for e in ProfileExtractor.objects.order_by("name")
        ],
        "playbook_extractors": [
            {
                **_extractor(e),
                "aggregation": {
                    key: getattr(e, attr) for key, attr in AGGREGATION_FIELDS.items()
                },
            }
            for e in PlaybookExtractor.objects.order_by("name")
        ],
    }


def _extractor(extractor: Model) -> dict[str, Any]:
    return {
        "name": extractor.name,  # type: ignore[attr-defined]
        **{name: getattr(extractor, name) for name in EXTRACTOR_FIELDS},
    }


def _update(row: Model, wanted: dict[str, Any], label: str) -> list[str]:
    """Set the fields of `row` that differ and describe each change."""
    changes = []
    for name, value in wanted.items():
        old = getattr(row, name)
        if old != value:
            setattr(row, name, value)
            shown = "changed" if "prompt" in name else f"{old!r} -> {value!r}"
            changes.append(f"{label}: {name} {shown}")
    return changes


def _apply_extractors(
    model: type[Model],
    items: list[ExtractorConfig],
    label: str,
    prune: bool,
) -> tuple[list[str], list[str]]:
    changes: list[str] = []
    notes: list[str] = []
    existing = {e.name: e for e in model._default_manager.all()}  # type: ignore[attr-defined]
    for item in items:
        wanted = {name: getattr(item, name) for name in EXTRACTOR_FIELDS}
        if isinstance(item, PlaybookExtractorConfig):
            wanted.update(
                {
                    attr: getattr(item.aggregation, key)
                    for key, attr in AGGREGATION_FIELDS.items()
                }
            )
        row = existing.pop(item.name, None)
        if row is None:
            row = model(name=item.name, **wanted)
            row.full_clean()
            row.save()
            changes.append(f"added {label} {item.name}")
            continue
        changed = _update(row, wanted, f"{label} {item.name}")
        if changed:
            row.full_clean()
            row.save()
            changes.extend(changed)
    for name, row in sorted(existing.items()):
        if prune:
            row.delete()
            changes.append(f"removed {label} {name}")
        else:
            notes.append(f"kept {label} {name}: not in the file (--prune removes it)")
    return changes, notes


def config_apply(
    config: Configuration, *, prune: bool = False, actor: Any = None
) -> tuple[list[str], list[str]]:
    """Make the stored configuration match `config`, in one transaction.

    Returns the changes made and notes about what was left alone. Extractors
    missing from the file are kept unless `prune`. Writes one audit event.
    """
    with transaction.atomic():
        before = config_dump()
        current = GenerationSettings.load()
        changes = _update(
            current, config.generation_settings.model_dump(), "generation_settings"
        )
        if changes:
            current.full_clean()
            current.save()
        profile_changes, profile_notes = _apply_extractors(
            ProfileExtractor, config.profile_extractors, "profile extractor", prune
        )
        playbook_changes, playbook_notes = _apply_extractors(
            PlaybookExtractor, config.playbook_extractors, "playbook extractor", prune
        )
        changes += profile_changes + playbook_changes
        if changes:
            audit_record(
                action="config_loaded",
                actor=actor,
                counts={"changes": len(changes)},
                before=before,
                after=config_dump(),
            )
    return changes, profile_notes + playbook_notes
