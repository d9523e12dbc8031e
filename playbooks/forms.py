"""Forms of the playbook pages: filters, generation, scopes and agent playbooks."""

from __future__ import annotations

from typing import Any

from django import forms
from django.urls import reverse_lazy

from playbooks import selectors
from playbooks.models import Approval
from reflexio_admin.forms import TimeRangeForm, optional
from reflexio_admin.models import DEFAULT_AGENT_VERSION
from reflexio_admin.status import Status


class AgentVersionInput(forms.TextInput):
    """A text box that suggests the known agent versions (a datalist)."""

    def __init__(self) -> None:
        super().__init__(attrs={"list": "agent-versions", "autocomplete": "off"})


class LazyAgentVersionInput(AgentVersionInput):
    """An `AgentVersionInput` whose suggestions load when it is first focused.

    For list filters: most views of a list page never touch the filter, so
    the page does not pay for reading the versions.
    """

    def __init__(self) -> None:
        super().__init__()
        self.attrs.update(
            {
                "hx-get": reverse_lazy("playbooks:agent_versions"),
                "hx-trigger": "focus once",
                "hx-target": "#agent-versions",
                "hx-swap": "innerHTML",
                # Not a filter change: no history entry, no other field sent.
                "hx-push-url": "false",
                "hx-params": "none",
            }
        )


def _name_choices(empty: str | None) -> list[tuple[str, str]]:
    names = [(name, name) for name in selectors.playbook_names()]
    return [("", empty), *names] if empty else names


class UserPlaybookFilterForm(forms.Form):
    status = forms.ChoiceField(
        choices=Status.choices, required=False, widget=forms.HiddenInput
    )
    agent_version = forms.CharField(required=False, widget=LazyAgentVersionInput())
    playbook_name = forms.ChoiceField(required=False, label="Playbook name")
    user_id = forms.CharField(required=False, label="User")
    q = forms.CharField(
        required=False, label="Text", widget=forms.TextInput(attrs={"type": "search"})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["playbook_name"].choices = _name_choices("any name")

    def selected_status(self) -> str:
        value = self.cleaned_data.get("status") if self.is_valid() else None
        return value or Status.CURRENT

    def filters(self) -> dict[str, str | None]:
        data = self.cleaned_data if self.is_valid() else {}
        return {
            "agent_version": optional(data.get("agent_version")),
            "playbook_name": optional(data.get("playbook_name")),
            "user_id": optional(data.get("user_id")),
            "text": optional(data.get("q")),
        }


class AgentPlaybookFilterForm(forms.Form):
    approval = forms.ChoiceField(
        choices=Approval.choices, required=False, widget=forms.HiddenInput
    )
    agent_version = forms.CharField(required=False, widget=LazyAgentVersionInput())
    playbook_name = forms.ChoiceField(required=False, label="Playbook name")
    q = forms.CharField(
        required=False, label="Text", widget=forms.TextInput(attrs={"type": "search"})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["playbook_name"].choices = _name_choices("any name")

    def selected_approval(self) -> str:
        value = self.cleaned_data.get("approval") if self.is_valid() else None
        return value or Approval.PENDING

    def filters(self) -> dict[str, str | None]:
        data = self.cleaned_data if self.is_valid() else {}
        return {
            "agent_version": optional(data.get("agent_version")),
            "playbook_name": optional(data.get("playbook_name")),
            "text": optional(data.get("q")),
        }


class _AgentVersionForm(forms.Form):
    agent_version = forms.CharField(
        initial=DEFAULT_AGENT_VERSION,
        widget=AgentVersionInput(),
        help_text="Interactions and playbooks of this agent version.",
    )

    def clean_agent_version(self) -> str:
        value: str = self.cleaned_data["agent_version"].strip()
        if not value:
            raise forms.ValidationError("Name the agent version.")
        return value


class PlaybookRerunForm(TimeRangeForm, _AgentVersionForm):
    """rerun_playbook_generation: every parameter but wait_for_response."""

    source = forms.CharField(required=False, help_text="Only this source.")
    playbook_name = forms.ChoiceField(
        required=False, help_text="Only this playbook extractor. Empty: every one."
    )

    field_order = [
        "agent_version",
        "start_time",
        "end_time",
        "time_zone",
        "source",
        "playbook_name",
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["playbook_name"].choices = _name_choices("every playbook")

    def arguments(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "agent_version": data["agent_version"],
            "start_time": data["start_time"],
            "end_time": data["end_time"],
            "source": optional(data["source"]),
            "playbook_name": optional(data["playbook_name"]),
        }


class PlaybookManualForm(_AgentVersionForm):
    """manual_playbook_generation."""

    source = forms.CharField(required=False, help_text="Only this source.")
    playbook_name = forms.ChoiceField(
        required=False, help_text="Only this playbook extractor. Empty: every one."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["playbook_name"].choices = _name_choices("every playbook")

    def arguments(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "agent_version": data["agent_version"],
            "source": optional(data["source"]),
            "playbook_name": optional(data["playbook_name"]),
        }


class PlaybookScopeForm(forms.Form):
    """The scope of an upgrade or downgrade of user playbooks."""

    agent_version = forms.CharField(required=False, widget=AgentVersionInput())
    playbook_name = forms.CharField(required=False)
    user_id = forms.CharField(required=False, label="User")

    def arguments(self) -> dict[str, str | None]:
        data = self.cleaned_data
        return {
            "agent_version": optional(data.get("agent_version")),
            "playbook_name": optional(data.get("playbook_name")),
            "user_id": optional(data.get("user_id")),
        }


class AggregateForm(_AgentVersionForm):
    playbook_name = forms.ChoiceField(
        help_text="Aggregation clusters the current user playbooks of this name."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["playbook_name"].choices = _name_choices(None)

    def arguments(self) -> dict[str, Any]:
        return {
            "agent_version": self.cleaned_data["agent_version"],
            "playbook_name": self.cleaned_data["playbook_name"],
        }


class AgentPlaybookForm(forms.Form):
    trigger = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="The situation the rule applies to.",
    )
    content = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
    rationale = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def clean_content(self) -> str:
        content: str = self.cleaned_data["content"].strip()
        if not content:
            raise forms.ValidationError("The rule cannot be empty.")
        return content
