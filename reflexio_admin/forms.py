"""Forms shared by the console: time ranges, list filters, settings and keys."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime
from functools import cache
from typing import Any

from django import forms
from django.contrib.auth.models import Group, User
from django.utils import timezone

from playbooks.models import PlaybookExtractor
from profiles.models import ProfileExtractor
from reflexio_admin import roles
from reflexio_admin.models import GenerationSettings, OperationKind, OperationStatus

DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


@cache
def time_zone_choices() -> list[tuple[str, str]]:
    zones = sorted(zoneinfo.available_timezones() - {"UTC", "localtime"})
    return [("UTC", "UTC"), *((zone, zone.replace("_", " ")) for zone in zones)]


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format=DATETIME_LOCAL)


class WallClockDateTimeField(forms.DateTimeField):
    """A date and time as typed, without a zone; the form decides the zone."""

    widget = DateTimeLocalInput

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault(
            "input_formats", [DATETIME_LOCAL, "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        )
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> datetime | None:
        result = super().to_python(value)
        # The parent placed the input in the server's zone; take that back off.
        return None if result is None else timezone.make_naive(result)


class TimeRangeForm(forms.Form):
    """A start and end typed as wall-clock times in an explicit time zone.

    `clean()` turns both into aware UTC datetimes, which is what services take.
    Unbound forms let console.js preselect the browser's zone (else UTC).
    """

    start_time = WallClockDateTimeField(
        required=False,
        help_text="Only interactions from this time on. Empty: from the first.",
    )
    end_time = WallClockDateTimeField(
        required=False,
        help_text="Only interactions up to this time. Empty: up to now.",
    )
    time_zone = forms.ChoiceField(
        choices=time_zone_choices,
        initial="UTC",
        help_text="The zone the two times above are in.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.fields["time_zone"].widget.attrs["data-browser-zone"] = "auto"
        else:
            self.fields["time_zone"].widget.attrs["data-browser-zone"] = "set"

    def _in_zone(
        self, value: datetime | None, zone: zoneinfo.ZoneInfo
    ) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=zone).astimezone(UTC)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        zone_name = cleaned.get("time_zone")
        if not zone_name:
            return cleaned
        zone = zoneinfo.ZoneInfo(zone_name)
        start = self._in_zone(cleaned.get("start_time"), zone)
        end = self._in_zone(cleaned.get("end_time"), zone)
        cleaned["start_time"], cleaned["end_time"] = start, end
        if start and end and end <= start:
            self.add_error("end_time", "The end must be after the start.")
        return cleaned


def optional(value: str | None) -> str | None:
    """Blank text as None, which services read as "no filter"."""
    value = (value or "").strip()
    return value or None


class SourceListField(forms.CharField):
    """A list of source labels typed as comma-separated text."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return ", ".join(value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value) or ""
        return [part.strip() for part in text.split(",") if part.strip()]


# Settings (admin only)


class GenerationSettingsForm(forms.ModelForm):
    class Meta:
        model = GenerationSettings
        fields = ["batch_size", "batch_interval", "chat_model", "embedding_model"]
        help_texts = {
            "chat_model": "Model for extraction and aggregation. Empty: the "
            "server default (REFLEXIO_CHAT_MODEL).",
            "embedding_model": "Model for embeddings. Empty: the server default "
            "(REFLEXIO_EMBEDDING_MODEL).",
        }

    def clean_batch_interval(self) -> int:
        value: int = self.cleaned_data["batch_interval"]
        if value < 1:
            raise forms.ValidationError("Use at least 1.")
        return value

    def clean_batch_size(self) -> int | None:
        value: int | None = self.cleaned_data["batch_size"]
        if value is not None and value < 1:
            raise forms.ValidationError("Use at least 1, or leave empty.")
        return value


EXTRACTOR_FIELDS = [
    "name",
    "definition_prompt",
    "context_prompt",
    "enabled_sources",
    "allow_manual_trigger",
    "batch_size",
    "enabled",
]
EXTRACTOR_HELP = {
    "name": "Letters, digits, - and _. Playbook extractor names are the "
    "playbook_name of what they make.",
    "enabled_sources": "Comma-separated sources, e.g. chat, email. Empty: every "
    "source.",
    "allow_manual_trigger": "Manual generation runs only extractors with this on.",
}


class ProfileExtractorForm(forms.ModelForm):
    enabled_sources = SourceListField(
        required=False, help_text=EXTRACTOR_HELP["enabled_sources"]
    )

    class Meta:
        model = ProfileExtractor
        fields = EXTRACTOR_FIELDS
        help_texts = EXTRACTOR_HELP


class PlaybookExtractorForm(forms.ModelForm):
    enabled_sources = SourceListField(
        required=False, help_text=EXTRACTOR_HELP["enabled_sources"]
    )

    class Meta:
        model = PlaybookExtractor
        fields = [
            *EXTRACTOR_FIELDS,
            "aggregation_enabled",
            "min_cluster_size",
            "clustering_similarity",
        ]
        help_texts = {
            **EXTRACTOR_HELP,
            "min_cluster_size": "Clusters with fewer user playbooks are dropped.",
        }


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        required=False,
        help_text="What the key is for, e.g. the agent or script that uses it.",
    )
    user = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True).order_by("username"),
        help_text="Calls made with the key act as this user, with their role.",
    )


ROLE_CHOICES = [
    ("", "no role"),
    (roles.VIEWER, "viewer: reads everything"),
    (roles.SUPPORT, "support: edits profile facts, regenerates one user"),
    (roles.REVIEWER, "reviewer: reruns, upgrades, aggregation, approvals"),
    (roles.ADMIN, "admin: settings, API keys and users"),
]


class UserRoleForm(forms.Form):
    role = forms.ChoiceField(choices=ROLE_CHOICES, required=False)

    def save(self, user: User) -> None:
        role_names = [value for value, _ in ROLE_CHOICES if value]
        user.groups.remove(*Group.objects.filter(name__in=role_names))
        if self.cleaned_data["role"]:
            user.groups.add(Group.objects.get(name=self.cleaned_data["role"]))


# Filters of the shared lists. All optional; values come back as query params.


class InteractionFilterForm(forms.Form):
    user_id = forms.CharField(required=False, label="User")
    session_id = forms.CharField(required=False, label="Session")
    agent_version = forms.CharField(required=False, label="Agent version")
    source = forms.CharField(required=False)
    q = forms.CharField(
        required=False, label="Text", widget=forms.TextInput(attrs={"type": "search"})
    )


class OperationFilterForm(forms.Form):
    kind = forms.ChoiceField(
        required=False, choices=[("", "any kind"), *OperationKind.choices]
    )
    status = forms.ChoiceField(
        required=False, choices=[("", "any status"), *OperationStatus.choices]
    )


AUDIT_ACTIONS = [
    "operation_started",
    "operation_cancel_requested",
    "upgrade_profiles",
    "downgrade_profiles",
    "profile_added",
    "profile_updated",
    "profile_deleted",
    "upgrade_user_playbooks",
    "downgrade_user_playbooks",
    "user_playbook_added",
    "user_playbook_updated",
    "user_playbook_deleted",
    "agent_playbook_approved",
    "agent_playbook_rejected",
    "agent_playbook_pending",
    "agent_playbook_edited",
    "settings_updated",
    "extractor_created",
    "extractor_updated",
    "api_key_created",
    "api_key_revoked",
    "user_role_changed",
]


class AuditFilterForm(forms.Form):
    action = forms.CharField(
        required=False,
        widget=forms.TextInput(attrs={"list": "audit-actions", "type": "search"}),
    )
    actor = forms.CharField(required=False, label="Actor (username)")
    user_id = forms.CharField(required=False, label="User")
