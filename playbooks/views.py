"""Playbook pages: user playbooks, agent playbooks and their operations."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.html import format_html_join
from django.utils.http import urlencode
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from playbooks import aggregation, selectors, services
from playbooks.cards import with_card_links
from playbooks.forms import (
    AgentPlaybookFilterForm,
    AgentPlaybookForm,
    AggregateForm,
    PlaybookManualForm,
    PlaybookRerunForm,
    PlaybookScopeForm,
    UserPlaybookFilterForm,
)
from playbooks.models import AgentPlaybook, Approval
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
from reflexio_admin.views.paging import (
    cursor_page,
    sampled_tab_counts,
    status_tabs,
    tab_counts,
)

logger = logging.getLogger(__name__)

# How many agent playbooks matching a text filter are read to count its tabs.
AGENT_SEARCH_COUNT_CAP = 2_000

CARD_TEMPLATE = "playbooks/_agent_playbook_card.html"


def _with_query(name: str, **query: str | None) -> str:
    params = {key: value for key, value in query.items() if value}
    return f"{reverse(name)}?{urlencode(params)}" if params else reverse(name)


def _agent_playbook(pk: int) -> AgentPlaybook:
    """One agent playbook, ready for its card."""
    return with_card_links([get_object_or_404(selectors.agent_playbooks(), pk=pk)])[0]


# Lists


@require(roles.VIEW_CONSOLE)
def user_playbook_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    filters = UserPlaybookFilterForm(request.GET)
    status = filters.selected_status()
    by_status = selectors.user_playbooks_by_status(**filters.filters())
    counts = tab_counts(by_status, searching=bool(filters.filters()["text"]))

    context = {
        "filters": filters,
        "status": status,
        "tabs": status_tabs(request.GET, Status.choices, counts, active=status),
        "page": cursor_page(by_status[status], request.GET),
    }
    return render_page(
        request, "playbooks/user_playbook_list.html", context, fragment="results"
    )


@require(roles.VIEW_CONSOLE)
def agent_playbook_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    filters = AgentPlaybookFilterForm(request.GET)
    approval = filters.selected_approval()
    if filters.filters()["text"]:
        # Agent playbooks are few (one per cluster of user playbooks), so one
        # read of the matches counts every tab, exactly for any but the
        # commonest words, at less than a capped walk per tab.
        counts = sampled_tab_counts(
            selectors.agent_playbooks(**filters.filters()),
            "approval",
            Approval.values,
            cap=AGENT_SEARCH_COUNT_CAP,
        )
    else:
        by_approval = selectors.agent_playbooks_by_approval(**filters.filters())
        counts = tab_counts(by_approval)
    listed = selectors.agent_playbooks(**filters.filters()).filter(approval=approval)
    page = cursor_page(listed, request.GET)
    with_card_links(page.items)

    context = {
        "filters": filters,
        "approval": approval,
        "tabs": status_tabs(
            request.GET, Approval.choices, counts, active=approval, name="approval"
        ),
        "page": page,
    }
    return render_page(
        request, "playbooks/agent_playbook_list.html", context, fragment="results"
    )


@require(roles.VIEW_CONSOLE)
def agent_playbook_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """One agent playbook with every user playbook it came from."""
    playbook = _agent_playbook(pk)
    sources = list(selectors.agent_playbook_sources(playbook))
    context = {
        "p": playbook,
        "sources": sources,
        "missing": len(playbook.source_user_playbook_ids) - len(sources),
    }
    return render_page(
        request, "playbooks/agent_playbook_detail.html", context, fragment=CARD_TEMPLATE
    )


@require(roles.VIEW_CONSOLE)
def agent_playbook_sources(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The first user playbooks of one agent playbook, for its opened card.

    Only htmx asks for this part; a plain request goes to the playbook's page,
    which lists every source.
    """
    playbook = get_object_or_404(
        AgentPlaybook.objects.only("source_user_playbook_ids"), pk=pk
    )
    detail = reverse("playbooks:agent_playbook_detail", args=[pk])
    if not wants_fragment(request):
        return redirect(f"{detail}#sources")
    sources = selectors.agent_playbook_sources(playbook)
    shown = list(sources[: selectors.SOURCES_SHOWN + 1])
    context = {
        "sources": shown[: selectors.SOURCES_SHOWN],
        "more": len(shown) > selectors.SOURCES_SHOWN,
        "detail": detail,
    }
    response = render(request, "playbooks/_agent_playbook_sources.html", context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require(roles.VIEW_CONSOLE)
def agent_version_options(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The known agent versions as `<option>`s, for a filter's datalist."""
    options = format_html_join(
        "", '<option value="{}">', ((v,) for v in selectors.agent_versions())
    )
    return HttpResponse(options)


# Decisions on agent playbooks (reviewers)


def _decided(
    request: AuthenticatedHttpRequest, playbook: AgentPlaybook
) -> HttpResponse:
    if wants_fragment(request):
        context = {"p": _agent_playbook(playbook.pk), "oob_messages": True}
        return render(request, CARD_TEMPLATE, context)
    fallback = reverse("playbooks:agent_playbook_detail", args=[playbook.pk])
    return redirect(safe_next(request, fallback))


def _set_approval(
    request: AuthenticatedHttpRequest, pk: int, approval: str
) -> HttpResponse:
    playbook = get_object_or_404(AgentPlaybook, pk=pk)
    aggregation.agent_playbook_set_approval(
        agent_playbook=playbook,
        approval=approval,
        actor=request.user,
        ip_address=client_address(request),
    )
    messages.success(request, f"Agent playbook #{pk} is {approval}.")
    return _decided(request, playbook)


@require(roles.REVIEW_PLAYBOOKS)
@require_POST
def agent_playbook_approve(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    return _set_approval(request, pk, Approval.APPROVED)


@require(roles.REVIEW_PLAYBOOKS)
@require_POST
def agent_playbook_reject(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    return _set_approval(request, pk, Approval.REJECTED)


@require(roles.REVIEW_PLAYBOOKS)
def agent_playbook_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    playbook = get_object_or_404(AgentPlaybook.objects.defer("embedding"), pk=pk)
    initial = {
        "trigger": playbook.trigger,
        "content": playbook.content,
        "rationale": playbook.rationale,
    }
    form = AgentPlaybookForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            aggregation.agent_playbook_update(
                agent_playbook=playbook,
                actor=request.user,
                ip_address=client_address(request),
                **form.cleaned_data,
            )
        except OperationError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Agent playbook #{pk} is saved.")
            return _decided(request, playbook)

    context = {"p": playbook, "form": form}
    return render_page(
        request,
        "playbooks/agent_playbook_form.html",
        context,
        fragment="playbooks/_agent_playbook_form.html",
    )


# Operations


@require(roles.RUN_OPERATIONS)
def rerun(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = PlaybookRerunForm(request.POST or None, initial=request.GET.dict())
    page = OperationPage(
        title="Rerun playbook generation",
        intro="Regenerate the user playbooks of one agent version from all its "
        "interactions. The result is PENDING: review it, then upgrade.",
        submit_label="Start rerun",
        nav="user_playbooks",
    )

    def start(arguments: dict[str, Any]) -> Any:
        return services.rerun_playbook_generation(
            **arguments, **start_arguments(request)
        )

    return operation_form(
        request, form, start, page, {"agent_versions": selectors.agent_versions()}
    )


@require(roles.RUN_OPERATIONS)
def manual(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = PlaybookManualForm(request.POST or None, initial=request.GET.dict())
    page = OperationPage(
        title="Manual playbook generation",
        intro="Read each user's latest batch_size interactions with this agent "
        "version and write new user playbooks directly as CURRENT. Only playbook "
        "extractors with allow_manual_trigger run.",
        submit_label="Generate now",
        nav="user_playbooks",
    )

    def start(arguments: dict[str, Any]) -> Any:
        return services.manual_playbook_generation(
            **arguments, **start_arguments(request)
        )

    return operation_form(
        request, form, start, page, {"agent_versions": selectors.agent_versions()}
    )


@require(roles.RUN_OPERATIONS)
def aggregate(request: AuthenticatedHttpRequest) -> HttpResponse:
    """GET with a scope: what aggregation would read and may change. POST: run."""
    bound = request.POST or (request.GET if "playbook_name" in request.GET else None)
    form = AggregateForm(bound)
    preview = None
    if request.method == "GET" and form.is_bound and form.is_valid():
        preview = selectors.aggregation_preview(**form.arguments())
    page = OperationPage(
        title="Playbook aggregation",
        intro="Cluster the current user playbooks of one agent version and name, "
        "and propose one agent playbook per cluster for approval.",
        submit_label="Run aggregation",
        nav="agent_playbooks",
    )

    def start(arguments: dict[str, Any]) -> Any:
        return aggregation.run_playbook_aggregation(
            **arguments, **start_arguments(request)
        )

    extra = {
        "preview": preview,
        "preview_first": True,
        "agent_versions": selectors.agent_versions(),
    }
    return operation_form(request, form, start, page, extra)


def _finish_change(request: AuthenticatedHttpRequest, fallback: str) -> HttpResponse:
    target = safe_next(request, fallback)
    if request.htmx:
        return HttpResponseClientRedirect(target)
    return redirect(target)


def _change_page(
    request: AuthenticatedHttpRequest, context: dict[str, Any]
) -> HttpResponse:
    context |= {"nav": "user_playbooks", "next": request.GET.get("next", "")}
    return render_page(
        request,
        "reflexio_admin/generation_change_confirm.html",
        context,
        fragment="confirm-panel",
    )


def _scope_form(request: AuthenticatedHttpRequest) -> PlaybookScopeForm:
    form = PlaybookScopeForm(request.POST if request.method == "POST" else request.GET)
    form.is_valid()
    return form


@require(roles.RUN_OPERATIONS)
def upgrade(request: AuthenticatedHttpRequest) -> HttpResponse:
    """GET: what an upgrade of the scope would change. POST: upgrade it."""
    form = _scope_form(request)
    scope = form.arguments()
    if request.method == "POST":
        result = services.upgrade_user_playbooks(
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
            messages.info(request, "Nothing changed: no pending playbooks in scope.")
        return _finish_change(request, _with_query("playbooks:review", **scope))

    context = {
        "title": "Upgrade user playbooks",
        "preview": selectors.upgrade_preview(**scope),
        "scope": [(name, value) for name, value in scope.items() if value],
        "form": form,
        "action": reverse("playbooks:upgrade"),
        "confirm_label": "Upgrade",
        "empty": "There are no pending user playbooks in this scope.",
    }
    return _change_page(request, context)


@require(roles.RUN_OPERATIONS)
def downgrade(request: AuthenticatedHttpRequest) -> HttpResponse:
    """GET: what a downgrade of the scope would restore. POST: restore it."""
    form = _scope_form(request)
    scope = form.arguments()
    if request.method == "POST":
        result = services.downgrade_user_playbooks(
            **scope, actor=request.user, ip_address=client_address(request)
        )
        if result.changed:
            messages.success(
                request,
                f"Downgraded {result.users} user(s): {result.restored} archived "
                f"became current again, {result.demoted} current were archived.",
            )
        else:
            messages.info(request, "Nothing changed: no archived playbooks in scope.")
        return _finish_change(request, _with_query("playbooks:review", **scope))

    context = {
        "title": "Downgrade user playbooks",
        "preview": selectors.downgrade_preview(**scope),
        "scope": [(name, value) for name, value in scope.items() if value],
        "form": form,
        "action": reverse("playbooks:downgrade"),
        "confirm_label": "Downgrade",
        "empty": "There are no archived user playbooks in this scope.",
    }
    return _change_page(request, context)
