"""The profile review: one user's PENDING facts against the CURRENT ones.

Pages: the users waiting for review, one user's review with item-by-item
decisions and "Upgrade all", the summary line other pages load, and the cost
preview of the rerun form.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from profiles import selectors
from profiles.forms import ProfileRerunForm
from profiles.models import ProfileGeneration
from reflexio_admin import costs, review, roles
from reflexio_admin.audit import client_address
from reflexio_admin.http import AuthenticatedHttpRequest
from reflexio_admin.operations import OperationError
from reflexio_admin.permissions import require
from reflexio_admin.status import Status
from reflexio_admin.views import review as review_ui

logger = logging.getLogger(__name__)

USERS_PER_PAGE = 50
TEMPLATE = "profiles/review.html"


def review_url(user_id: str, extractor: str | None = None, **extra: str) -> str:
    query = {"user_id": user_id} | ({"extractor": extractor} if extractor else {})
    return f"{reverse('profiles:review')}?{urlencode(query | extra)}"


def _scope_from(data: Any) -> review.ReviewScope | None:
    user_id = (data.get("user_id") or "").strip()
    if not user_id:
        return None
    return review.profile_scope(user_id, (data.get("extractor") or "").strip() or None)


def _page(
    request: AuthenticatedHttpRequest,
    scope: review.ReviewScope,
    *,
    chosen: dict[int, str] | None = None,
    error: str = "",
    confirm_upgrade: bool = False,
) -> HttpResponse:
    found = review.load_review(scope)
    changes, unchanged = review_ui.split_rows(
        review_ui.row_views(found.comparison.items, chosen)
    )
    extractors = sorted(
        ProfileGeneration.objects.filter(
            user_id=scope.user_id, status=Status.PENDING
        ).values_list("extractor_name", flat=True)
    )
    context = {
        "kind": review.PROFILES,
        "scope": scope,
        "found": found,
        "changes": changes,
        "unchanged": unchanged,
        "extractors": extractors,
        "upgrade_preview": selectors.upgrade_preview(
            user_id=scope.user_id, extractor_name=scope.extractor_name
        ),
        "error": error,
        "confirm_upgrade": confirm_upgrade,
        "result": review_ui.result_lines(request.GET.get("result"), review.PROFILES),
        "hidden_scope": [
            ("user_id", scope.user_id),
            ("extractor", scope.extractor_name or ""),
        ],
        "decide_url": reverse("profiles:review_decide"),
        "upgrade_url": reverse("profiles:review_upgrade"),
        "self_url": review_url(scope.user_id or "", scope.extractor_name),
    }
    return render(request, TEMPLATE, context)


def _index(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Users with pending profiles, a page at a time, most changed first."""
    after = request.GET.get("after", "")
    users = (
        ProfileGeneration.objects.filter(status=Status.PENDING, user_id__gt=after)
        .order_by("user_id")
        .values_list("user_id", flat=True)
        .distinct()
    )
    page = list(users[: USERS_PER_PAGE + 1])
    next_after = page[USERS_PER_PAGE - 1] if len(page) > USERS_PER_PAGE else None
    page = page[:USERS_PER_PAGE]
    summaries = review.summaries_for_users(page)
    rows = sorted(
        ((summary, review_url(summary.user_id)) for summary in summaries.values()),
        key=lambda pair: (-pair[0].counts.changed, pair[0].user_id),
    )
    context = {
        "kind": review.PROFILES,
        "rows": rows,
        "next_url": f"?{urlencode({'after': next_after})}" if next_after else None,
        "first_url": "?" if after else None,
    }
    return render(request, TEMPLATE, context)


@require(roles.VIEW_CONSOLE)
@require_GET
def review_page(request: AuthenticatedHttpRequest) -> HttpResponse:
    """One user's review (?user_id=...[&extractor=...]), or the users to review."""
    scope = _scope_from(request.GET)
    if scope is None:
        return _index(request)
    return _page(request, scope)


@require(roles.RUN_OPERATIONS)
@require_POST
def review_decide(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Apply the accept/reject choices of the form, all or nothing."""
    scope = _scope_from(request.POST)
    if scope is None:
        return redirect("profiles:review")
    chosen = review_ui.decisions_from(request.POST)
    try:
        result = review.apply_item_decisions(
            scope=scope,
            decisions=chosen,
            actor=request.user,
            ip_address=client_address(request),
            expected_digest=request.POST.get("digest") or None,
            confirm_stale=request.POST.get("confirm_stale") == "1",
        )
    except review.ReviewError as exc:
        return _page(request, scope, chosen=chosen, error=str(exc))

    messages.success(request, result.message())
    return redirect(
        review_url(
            scope.user_id or "", scope.extractor_name, result=str(result.event_id)
        )
    )


@require(roles.RUN_OPERATIONS)
@require_POST
def review_upgrade(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Upgrade the whole scope; a stale review needs `confirm_stale=1`."""
    scope = _scope_from(request.POST)
    if scope is None:
        return redirect("profiles:review")
    try:
        result = review.upgrade_reviewed(
            scope=scope,
            actor=request.user,
            ip_address=client_address(request),
            confirm_stale=request.POST.get("confirm_stale") == "1",
        )
    except review.StaleReview:
        # The page shows why (the stale banner) and asks to confirm.
        return _page(request, scope, confirm_upgrade=True)

    if result.changed:
        messages.success(
            request,
            f"Upgraded {result.users} user(s): {result.promoted} pending became "
            f"current, {result.archived} current were archived, {result.deleted} "
            "archived were deleted.",
        )
    else:
        messages.info(request, "Nothing changed: nothing is pending in this scope.")
    return redirect(review_url(scope.user_id or "", scope.extractor_name))


@require(roles.VIEW_CONSOLE)
@require_GET
def review_summary(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The one-line review summary of a user, for other pages to load."""
    user_id = request.GET.get("user_id", "").strip()
    summary = review.summaries_for_users([user_id]).get(user_id) if user_id else None
    context = {"summary": summary, "review_url": review_url(user_id)}
    return render(request, "_review_summary.html", context)


@require(roles.VIEW_CONSOLE)
@require_GET
def rerun_cost(request: AuthenticatedHttpRequest) -> HttpResponse:
    """What the rerun form's scope would cost, as a fragment of that form."""
    data = request.GET.copy()
    data.setdefault("time_zone", "UTC")
    form = ProfileRerunForm(data)
    preview, error = None, ""
    if form.is_valid():
        try:
            preview = costs.rerun_cost_preview("profiles", **form.arguments())
        except OperationError as exc:
            error = str(exc)
    else:
        error = "Fix the form to see what the rerun would cost."
    return render(request, "_rerun_cost.html", {"preview": preview, "error": error})
