"""Settings (admin only): generation settings, extractors, API keys and roles.

Every change is written to the audit log with the values before and after.
"""

from __future__ import annotations

import logging
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Model
from django.forms.models import model_to_dict
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from playbooks.models import PlaybookExtractor
from profiles.models import ProfileExtractor
from reflexio_admin import roles
from reflexio_admin.audit import audit_record, client_address
from reflexio_admin.forms import (
    ROLE_CHOICES,
    ApiKeyCreateForm,
    GenerationSettingsForm,
    PlaybookExtractorForm,
    ProfileExtractorForm,
    UserRoleForm,
)
from reflexio_admin.http import AuthenticatedHttpRequest
from reflexio_admin.llm import get_provider
from reflexio_admin.models import ApiKey, GenerationSettings
from reflexio_admin.permissions import require

logger = logging.getLogger(__name__)

EXTRACTOR_KINDS: dict[str, tuple[type[Model], type[forms.ModelForm], str]] = {
    "profile": (ProfileExtractor, ProfileExtractorForm, "profile extractor"),
    "playbook": (PlaybookExtractor, PlaybookExtractorForm, "playbook extractor"),
}
ROLE_NAMES = [value for value, _ in ROLE_CHOICES if value]


def _snapshot(instance: Model, fields: list[str]) -> dict[str, Any]:
    return model_to_dict(instance, fields=fields)


def _settings_context(request: AuthenticatedHttpRequest) -> dict[str, Any]:
    users = User.objects.prefetch_related("groups").order_by("username")
    return {
        "provider": get_provider(),
        "generation_form": GenerationSettingsForm(instance=GenerationSettings.load()),
        "profile_extractors": ProfileExtractor.objects.all(),
        "playbook_extractors": PlaybookExtractor.objects.all(),
        "api_keys": ApiKey.objects.select_related("user")[:200],
        "apikey_form": ApiKeyCreateForm(initial={"user": request.user}),
        "users": [
            (user, [g.name for g in user.groups.all() if g.name in ROLE_NAMES])
            for user in users[:200]
        ],
        "role_choices": ROLE_CHOICES,
    }


@require(roles.MANAGE_SETTINGS)
def settings_view(request: AuthenticatedHttpRequest) -> HttpResponse:
    return render(request, "reflexio_admin/settings.html", _settings_context(request))


@require(roles.MANAGE_SETTINGS)
def generation_settings_edit(request: AuthenticatedHttpRequest) -> HttpResponse:
    config = GenerationSettings.load()
    form = GenerationSettingsForm(request.POST or None, instance=config)
    fields = list(form.fields)
    before = _snapshot(config, fields)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            form.save()
            audit_record(
                action="settings_updated",
                actor=request.user,
                scope={"settings": "generation"},
                before=before,
                after=_snapshot(config, fields),
                ip_address=client_address(request),
            )
        messages.success(request, "Generation settings saved.")
        return redirect("console:settings")

    context = {"form": form, "title": "Generation settings"}
    return render(request, "reflexio_admin/settings_form.html", context)


@require(roles.MANAGE_SETTINGS)
def extractor_edit(
    request: AuthenticatedHttpRequest, kind: str, pk: int | None = None
) -> HttpResponse:
    """Create (no pk) or edit a profile or playbook extractor."""
    if kind not in EXTRACTOR_KINDS:
        raise Http404("No such kind of extractor.")
    model, form_class, label = EXTRACTOR_KINDS[kind]
    extractor = get_object_or_404(model, pk=pk) if pk else None
    form = form_class(request.POST or None, instance=extractor)
    fields = list(form.fields)
    before = _snapshot(extractor, fields) if extractor else None
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            saved = form.save()
            audit_record(
                action="extractor_updated" if extractor else "extractor_created",
                actor=request.user,
                scope={"extractor": label, "name": saved.name},
                before=before,
                after=_snapshot(saved, fields),
                ip_address=client_address(request),
            )
        messages.success(request, f"The {label} {saved.name} is saved.")
        return redirect("console:settings")

    title = f"Edit {label} {extractor}" if extractor else f"New {label}"
    context = {"form": form, "title": title}
    return render(request, "reflexio_admin/settings_form.html", context)


@require(roles.MANAGE_SETTINGS)
@never_cache
def apikey_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Issue a key and show it once; only its hash is stored."""
    form = ApiKeyCreateForm(request.POST or None, initial={"user": request.user})
    if request.method == "POST" and form.is_valid():
        owner = form.cleaned_data["user"]
        with transaction.atomic():
            key, raw = ApiKey.issue(user=owner, name=form.cleaned_data["name"])
            audit_record(
                action="api_key_created",
                actor=request.user,
                scope={"api_key": key.prefix, "user": owner.get_username()},
                ip_address=client_address(request),
            )
        logger.info("%s created API key %s for %s", request.user, key.prefix, owner)
        return render(
            request, "reflexio_admin/apikey_created.html", {"key": key, "raw": raw}
        )

    context = {"form": form, "title": "New API key"}
    return render(request, "reflexio_admin/settings_form.html", context)


@require(roles.MANAGE_SETTINGS)
@require_POST
def apikey_revoke(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    key = get_object_or_404(ApiKey, pk=pk)
    with transaction.atomic():
        revoked = ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if revoked:
            audit_record(
                action="api_key_revoked",
                actor=request.user,
                scope={"api_key": key.prefix, "user": key.user.get_username()},
                ip_address=client_address(request),
            )
    if revoked:
        messages.success(request, f"The key {key.prefix}… is revoked.")
    else:
        messages.info(request, f"The key {key.prefix}… was already revoked.")
    return redirect("console:settings")


@require(roles.MANAGE_SETTINGS)
@require_POST
def user_role_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    account = get_object_or_404(User, pk=pk)
    form = UserRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the listed roles.")
        return redirect("console:settings")

    before = sorted(
        account.groups.filter(name__in=ROLE_NAMES).values_list("name", flat=True)
    )
    with transaction.atomic():
        form.save(account)
        audit_record(
            action="user_role_changed",
            actor=request.user,
            scope={"user": account.get_username()},
            before={"roles": before},
            after={
                "roles": [form.cleaned_data["role"]]
                if form.cleaned_data["role"]
                else []
            },
            ip_address=client_address(request),
        )
    messages.success(
        request,
        f"{account.get_username()} now has the role "
        f"{form.cleaned_data['role'] or 'none'}.",
    )
    return redirect("console:settings")
