"""The user playbook review: one agent version's PENDING rules against CURRENT.

Rules are paired per user and playbook name; the page shows one group per
user, a page of users at a time, the users with most changes first.
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

from playbooks import selectors
from playbooks.forms import PlaybookRerunForm
from playbooks.models import PlaybookGeneration
from reflexio_admin import costs, review, roles
from reflexio_admin.audit import client_address
from reflexio_admin.http import AuthenticatedHttpRequest
from reflexio_admin.operations import OperationError
from reflexio_admin.permissions import require
from reflexio_admin.status import Status
from reflexio_admin.views import review as review_ui

logger = logging.getLogger(__name__)

USERS_PER_PAGE = 25
TEMPLATE = "playbooks/review.html"


def review_url(
    agent_version: str, playbook_name: str | None = None, **extra: str
) -> str:
    query = {"agent_version": agent_version}
    if playbook_name:
        query["playbook_name"] = playbook_name
    return f"{reverse('playbooks:review')}?{urlencode(query | extra)}"


def _scope_from(data: Any) -> review.ReviewScope | None:
    agent_version = (data.get("agent_version") or "").strip()
    if not agent_version:
        return None
    return review.playbook_scope(
        agent_version,
        (data.get("playbook_name") or "").strip() or None,
        user_ids=[u for u in data.getlist("user_ids") if u.strip()],
    )


def _users_page(scope: review.ReviewScope, after: str) -> tuple[list[str], str | None]:
    """A page of the users with pending playbooks in scope, by user id."""
    users = (
        PlaybookGeneration.objects.filter(scope.query(), status=Status.PENDING)
        .filter(user_id__gt=after)
        .order_by("user_id")
        .values_list("user_id", flat=True)
        .distinct()
    )
    page = list(users[: USERS_PER_PAGE + 1])
    next_after = page[USERS_PER_PAGE - 1] if len(page) > USERS_PER_PAGE else None
    return page[:USERS_PER_PAGE], next_after


def _groups(found: review.Review, chosen: dict[int, str] | None) -> list[Any]:
    views = {
        id(view.row): view
        for view in review_ui.row_views(found.comparison.items, chosen)
    }
    groups = []
    for group in found.by_user():
        rows = [views[id(row)] for row in group.items]
        changes, unchanged = review_ui.split_rows(rows)
        groups.append(
            {
                "user_id": group.user_id,
                "counts": group.counts,
                "changes": changes,
                "unchanged": unchanged,
            }
        )
    return groups


def _page(
    request: AuthenticatedHttpRequest,
    scope: review.ReviewScope,
    *,
    chosen: dict[int, str] | None = None,
    error: str = "",
    confirm_upgrade: bool = False,
) -> HttpResponse:
    after = request.GET.get("after", "")
    if scope.user_ids:
        users, next_after = list(scope.user_ids), None
    else:
        users, next_after = _users_page(scope, after)
        scope = review.playbook_scope(
            scope.agent_version or "", scope.playbook_name, user_ids=users
        )
    found = review.load_review(scope)
    base = review_url(scope.agent_version or "", scope.playbook_name)
    hidden = [
        ("agent_version", scope.agent_version),
        ("playbook_name", scope.playbook_name or ""),
    ] + [("user_ids", user_id) for user_id in scope.user_ids]
    context = {
        "kind": review.PLAYBOOKS,
        "scope": scope,
        "found": found,
        "groups": _groups(found, chosen) if users else [],
        "paged": bool(after or next_after),
        "next_url": f"{base}&{urlencode({'after': next_after})}"
        if next_after
        else None,
        "first_url": base if after else None,
        "hidden_scope": hidden,
        "upgrade_preview": selectors.upgrade_preview(
            agent_version=scope.agent_version, playbook_name=scope.playbook_name
        ),
        "error": error,
        "confirm_upgrade": confirm_upgrade,
        "result": review_ui.result_lines(request.GET.get("result"), review.PLAYBOOKS),
        "decide_url": reverse("playbooks:review_decide"),
        "upgrade_url": reverse("playbooks:review_upgrade"),
        "self_url": base,
    }
    return render(request, TEMPLATE, context)


@require(roles.VIEW_CONSOLE)
@require_GET
def review_page(request: AuthenticatedHttpRequest) -> HttpResponse:
    """One agent version's review (?agent_version=...), or the scopes to review."""
    scope = _scope_from(request.GET)
    if scope is None:
        context = {"scopes": list(selectors.pending_scopes()[:200])}
        return render(request, TEMPLATE, context)
    return _page(request, scope)


@require(roles.RUN_OPERATIONS)
@require_POST
def review_decide(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Apply the accept/reject choices of the form, all or nothing."""
    scope = _scope_from(request.POST)
    if scope is None:
        return redirect("playbooks:review")
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
            scope.agent_version or "",
            scope.playbook_name,
            result=str(result.event_id),
        )
    )


@require(roles.RUN_OPERATIONS)
@require_POST
def review_upgrade(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Upgrade the agent version (and name); a stale one needs confirm_stale=1."""
    scope = _scope_from(request.POST)
    if scope is None:
        return redirect("playbooks:review")
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
    return redirect(review_url(scope.agent_version or "", scope.playbook_name))


@require(roles.VIEW_CONSOLE)
@require_GET
def rerun_cost(request: AuthenticatedHttpRequest) -> HttpResponse:
    """What the rerun form's scope would cost, as a fragment of that form."""
    data = request.GET.copy()
    data.setdefault("time_zone", "UTC")
    form = PlaybookRerunForm(data)
    preview, error = None, ""
    if form.is_valid():
        try:
            preview = costs.rerun_cost_preview("playbooks", **form.arguments())
        except OperationError as exc:
            error = str(exc)
    else:
        error = "Fix the form to see what the rerun would cost."
    return render(request, "_rerun_cost.html", {"preview": preview, "error": error})
