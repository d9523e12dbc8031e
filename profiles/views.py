"""Profile pages: the list, a user's page, single-fact edits and operations."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from profiles import selectors, services
from profiles.forms import (
    ProfileAddForm,
    ProfileEditForm,
    ProfileFilterForm,
    ProfileManualForm,
    ProfileRerunForm,
    ProfileScopeForm,
)
from profiles.models import UserProfile
from reflexio_admin import roles
from reflexio_admin.audit import client_address
from reflexio_admin.http import (
    AuthenticatedHttpRequest,
    render_page,
    safe_next,
    wants_fragment,
)
from reflexio_admin.operations import OperationError
from reflexio_admin.permissions import require
from reflexio_admin.status import Status
from reflexio_admin.views.operations import (
    OperationPage,
    operation_form,
    start_arguments,
)
from reflexio_admin.views.paging import cursor_page, status_tabs, tab_counts

logger = logging.getLogger(__name__)


def _user_url(user_id: str) -> str:
    return reverse("profiles:user_detail", args=[user_id])


def _review_url(user_id: str | None, extractor: str | None = None) -> str:
    query = {k: v for k, v in (("user_id", user_id), ("extractor", extractor)) if v}
    return f"{reverse('profiles:review')}?{urlencode(query)}"


def _change_url(name: str, **query: str | None) -> str:
    """The confirmation page of an upgrade or downgrade of a scope."""
    params = {key: value for key, value in query.items() if value}
    return f"{reverse(name)}?{urlencode(params)}"


# Lists


@require(roles.VIEW_CONSOLE)
def profile_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    filters = ProfileFilterForm(request.GET)
    status = filters.selected_status()
    by_status = selectors.profiles_by_status(**filters.filters())
    counts = tab_counts(by_status, searching=bool(filters.filters()["text"]))

    context = {
        "filters": filters,
        "status": status,
        "tabs": status_tabs(request.GET, Status.choices, counts, active=status),
        "page": cursor_page(by_status[status], request.GET),
    }
    return render_page(
        request, "profiles/profile_list.html", context, fragment="results"
    )


def _user_context(user_id: str, add_form: ProfileAddForm) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "profiles": selectors.profiles_of_user(user_id=user_id),
        "limit": selectors.USER_PAGE_LIMIT,
        "add_form": add_form,
        "upgrade": selectors.upgrade_preview(user_id=user_id),
        "upgrade_url": _change_url(
            "profiles:upgrade", user_id=user_id, next=_user_url(user_id)
        ),
    }


@require(roles.VIEW_CONSOLE)
def user_detail(request: AuthenticatedHttpRequest, user_id: str) -> HttpResponse:
    context = _user_context(user_id, ProfileAddForm())
    return render_page(
        request, "profiles/user_detail.html", context, fragment="profile-sections"
    )


# Single facts (support)


@require(roles.VIEW_CONSOLE)
@vary_on_headers("HX-Request")
def profile_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """One fact as an item of the user page; a plain load opens that page."""
    profile = get_object_or_404(UserProfile.objects.defer("embedding"), pk=pk)
    if not wants_fragment(request):
        return redirect(f"{_user_url(profile.user_id)}#profile-{profile.pk}")
    return render(request, "profiles/_profile_item.html", {"p": profile})


@require(roles.EDIT_PROFILES)
def profile_add(request: AuthenticatedHttpRequest, user_id: str) -> HttpResponse:
    form = ProfileAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.profile_add(
                user_id=user_id,
                actor=request.user,
                ip_address=client_address(request),
                **form.cleaned_data,
            )
        except OperationError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Profile fact added.")
            if not wants_fragment(request):
                return redirect(_user_url(user_id))
            form = ProfileAddForm()

    if wants_fragment(request) or request.method == "POST":
        context = _user_context(user_id, form)
        return render_page(
            request, "profiles/user_detail.html", context, fragment="profile-sections"
        )
    context = {"user_id": user_id, "form": form}
    return render(request, "profiles/profile_form.html", context)


@require(roles.EDIT_PROFILES)
def profile_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    profile = get_object_or_404(UserProfile.objects.defer("embedding"), pk=pk)
    initial = {"content": profile.content, "custom_features": profile.custom_features}
    form = ProfileEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        changed_features = "custom_features" in form.changed_data
        try:
            services.profile_update(
                profile=profile,
                content=form.cleaned_data["content"],
                custom_features=(
                    form.cleaned_data["custom_features"] or {}
                    if changed_features
                    else None
                ),
                actor=request.user,
                ip_address=client_address(request),
            )
        except OperationError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Profile fact saved.")
            if wants_fragment(request):
                context = {"p": profile, "oob_messages": True}
                return render(request, "profiles/_profile_item.html", context)
            return redirect(_user_url(profile.user_id))

    context = {"p": profile, "form": form}
    return render_page(
        request,
        "profiles/profile_form.html",
        context,
        fragment="profiles/_profile_edit_form.html",
    )


@require(roles.EDIT_PROFILES)
def profile_delete(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    profile = get_object_or_404(UserProfile.objects.defer("embedding"), pk=pk)
    if request.method != "POST":
        return render(request, "profiles/profile_confirm_delete.html", {"p": profile})

    services.profile_delete(
        profile=profile, actor=request.user, ip_address=client_address(request)
    )
    messages.success(request, "Profile fact deleted. The audit log keeps its text.")
    if wants_fragment(request):
        # The item disappears; the message arrives out of band.
        return render(request, "_messages.html", {"oob": True})
    return redirect(_user_url(profile.user_id))


# Operations


@require(roles.RUN_OPERATIONS)
def rerun(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = ProfileRerunForm(request.POST or None, initial=request.GET.dict())
    page = OperationPage(
        title="Rerun profile generation",
        intro="Regenerate profiles from all interactions in scope. The result is "
        "PENDING: review it, then upgrade. CURRENT profiles are not touched.",
        submit_label="Start rerun",
        nav="profiles",
    )

    def start(arguments: dict[str, Any]) -> Any:
        return services.rerun_profile_generation(
            **arguments, **start_arguments(request)
        )

    return operation_form(request, form, start, page)


@require(roles.GENERATE_FOR_USER)
def manual(request: AuthenticatedHttpRequest) -> HttpResponse:
    one_user_only = not request.user.has_perm(roles.RUN_OPERATIONS)
    form = ProfileManualForm(
        request.POST or None, initial=request.GET.dict(), one_user_only=one_user_only
    )
    page = OperationPage(
        title="Manual profile generation",
        intro="Read each user's latest batch_size interactions and write new facts "
        "directly as CURRENT. Facts they replace are archived, never lost. Only "
        "extractors with allow_manual_trigger run.",
        submit_label="Generate now",
        nav="profiles",
    )

    def start(arguments: dict[str, Any]) -> Any:
        return services.manual_profile_generation(
            **arguments, **start_arguments(request)
        )

    return operation_form(request, form, start, page)


def _finish_change(request: AuthenticatedHttpRequest, fallback: str) -> HttpResponse:
    target = safe_next(request, fallback)
    if request.htmx:
        return HttpResponseClientRedirect(target)
    return redirect(target)


def _change_page(
    request: AuthenticatedHttpRequest, context: dict[str, Any]
) -> HttpResponse:
    context |= {"nav": "profiles", "next": request.GET.get("next", "")}
    return render_page(
        request,
        "reflexio_admin/generation_change_confirm.html",
        context,
        fragment="confirm-panel",
    )


@require(roles.RUN_OPERATIONS)
def upgrade(request: AuthenticatedHttpRequest) -> HttpResponse:
    """GET: what an upgrade of the scope would change. POST: upgrade it."""
    form = ProfileScopeForm(request.POST if request.method == "POST" else request.GET)
    form.is_valid()
    scope = form.arguments()
    if request.method == "POST":
        result = services.upgrade_profiles(
            **scope, actor=request.user, ip_address=client_address(request)
        )
        if result.changed:
            messages.success(
                request,
                f"Upgraded {result.users} user(s): {result.promoted} pending became "
                f"current, {result.archived} current were archived, "
                f"{result.deleted} archived were deleted.",
            )
        else:
            messages.info(request, "Nothing changed: no pending profiles in scope.")
        return _finish_change(request, _review_url(scope["user_id"]))

    context = {
        "title": "Upgrade profiles",
        "preview": selectors.upgrade_preview(**scope),
        "scope": [(name, value) for name, value in scope.items() if value],
        "form": form,
        "action": reverse("profiles:upgrade"),
        "confirm_label": "Upgrade",
        "empty": "There are no pending profiles in this scope: nothing to upgrade.",
    }
    return _change_page(request, context)


@require(roles.RUN_OPERATIONS)
def downgrade(request: AuthenticatedHttpRequest) -> HttpResponse:
    """GET: what a downgrade of the scope would restore. POST: restore it."""
    form = ProfileScopeForm(request.POST if request.method == "POST" else request.GET)
    form.is_valid()
    scope = form.arguments()
    if request.method == "POST":
        result = services.downgrade_profiles(
            **scope, actor=request.user, ip_address=client_address(request)
        )
        if result.changed:
            messages.success(
                request,
                f"Downgraded {result.users} user(s): {result.restored} archived "
                f"became current again, {result.demoted} current were archived.",
            )
        else:
            messages.info(request, "Nothing changed: no archived profiles in scope.")
        return _finish_change(request, _review_url(scope["user_id"]))

    context = {
        "title": "Downgrade profiles",
        "preview": selectors.downgrade_preview(**scope),
        "scope": [(name, value) for name, value in scope.items() if value],
        "form": form,
        "action": reverse("profiles:downgrade"),
        "confirm_label": "Downgrade",
        "empty": "There are no archived profiles in this scope: nothing to restore.",
    }
    return _change_page(request, context)
