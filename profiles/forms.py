"""Forms of the profile pages: filters, the two generation modes, single facts."""

from __future__ import annotations

import json
from typing import Any

from django import forms

from profiles import selectors
from reflexio_admin.forms import TimeRangeForm, optional
from reflexio_admin.status import Status, TimeToLive

STATUS_CHOICES = [(value, label) for value, label in Status.choices]


def _extractor_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in selectors.enabled_extractor_names()]


class ProfileFilterForm(forms.Form):
    status = forms.ChoiceField(
        choices=STATUS_CHOICES, required=False, widget=forms.HiddenInput
    )
    user_id = forms.CharField(required=False, label="User")
    source = forms.CharField(required=False)
    extractor = forms.ChoiceField(required=False)
    q = forms.CharField(
        required=False, label="Text", widget=forms.TextInput(attrs={"type": "search"})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names = selectors.extractor_names()
        self.fields["extractor"].choices = [
            ("", "any extractor"),
            *((n, n) for n in names),
        ]

    def selected_status(self) -> str:
        value = self.cleaned_data.get("status") if self.is_valid() else None
        return value or Status.CURRENT

    def filters(self) -> dict[str, str | None]:
        """The filters as selector arguments; invalid values filter nothing."""
        data = self.cleaned_data if self.is_valid() else {}
        return {
            "user_id": optional(data.get("user_id")),
            "source": optional(data.get("source")),
            "extractor_name": optional(data.get("extractor")),
            "text": optional(data.get("q")),
        }


class ExtractorChoiceMixin(forms.Form):
    extractor_names = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Extractors",
        help_text="None ticked: every enabled extractor.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["extractor_names"].choices = _extractor_choices()


class ProfileRerunForm(ExtractorChoiceMixin, TimeRangeForm):
    """rerun_profile_generation: every parameter but wait_for_response."""

    user_id = forms.CharField(
        required=False,
        label="User",
        help_text="Empty: every user with interactions in the range.",
    )
    source = forms.CharField(
        required=False, help_text="Only interactions of this source, e.g. chat."
    )

    field_order = [
        "user_id",
        "start_time",
        "end_time",
        "time_zone",
        "source",
        "extractor_names",
    ]

    def arguments(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "user_id": optional(data["user_id"]),
            "start_time": data["start_time"],
            "end_time": data["end_time"],
            "source": optional(data["source"]),
            "extractor_names": data["extractor_names"] or None,
        }


class ProfileManualForm(ExtractorChoiceMixin):
    """manual_profile_generation; one user only for roles without reruns."""

    user_id = forms.CharField(
        required=False, label="User", help_text="Empty: every user."
    )
    source = forms.CharField(required=False, help_text="Only this source.")

    field_order = ["user_id", "source", "extractor_names"]

    def __init__(self, *args: Any, one_user_only: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if one_user_only:
            self.fields["user_id"].required = True
            self.fields[
                "user_id"
            ].help_text = "Your role regenerates one user at a time."

    def arguments(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "user_id": optional(data["user_id"]),
            "source": optional(data["source"]),
            "extractor_names": data["extractor_names"] or None,
        }


class ProfileScopeForm(forms.Form):
    """The scope of an upgrade or downgrade: everyone, one user, one extractor."""

    user_id = forms.CharField(required=False, label="User")
    extractor = forms.CharField(required=False)

    def arguments(self) -> dict[str, str | None]:
        return {
            "user_id": optional(self.cleaned_data["user_id"]),
            "extractor_name": optional(self.cleaned_data["extractor"]),
        }


class JSONObjectField(forms.CharField):
    """An optional JSON object typed as text."""

    widget = forms.Textarea(attrs={"rows": 2})

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, dict):
            return json.dumps(value, ensure_ascii=False)
        return value

    def to_python(self, value: Any) -> dict[str, Any] | None:  # type: ignore[override]
        text = (super().to_python(value) or "").strip()
        if not text:
            return None
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"This is not valid JSON: {exc.msg}.") from None
        if not isinstance(parsed, dict):
            raise forms.ValidationError('Use a JSON object, e.g. {"topic": "billing"}.')
        return parsed


class ProfileAddForm(forms.Form):
    content = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
    status = forms.ChoiceField(choices=STATUS_CHOICES, initial=Status.CURRENT)
    extractor_name = forms.ChoiceField(label="Extractor")
    time_to_live = forms.ChoiceField(
        choices=TimeToLive.choices, initial=TimeToLive.INFINITY
    )
    source = forms.CharField(required=False)
    custom_features = JSONObjectField(required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names = selectors.extractor_names()
        self.fields["extractor_name"].choices = [(n, n) for n in names] or [
            ("manual", "manual")
        ]

    def clean_content(self) -> str:
        content: str = self.cleaned_data["content"].strip()
        if not content:
            raise forms.ValidationError("Write the fact.")
        return content


class ProfileEditForm(forms.Form):
    content = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
    custom_features = JSONObjectField(required=False)

    def clean_content(self) -> str:
        content: str = self.cleaned_data["content"].strip()
        if not content:
            raise forms.ValidationError("A fact cannot be empty; delete it instead.")
        return content
