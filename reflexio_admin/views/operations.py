"""Operation pages: history, one run, its progress bar, cancel and retry.

`operation_form` is the shared body of every form that starts a run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect, HttpResponseStopPolling

from playbooks.cards import with_card_links
from playbooks.selectors import aggregation_clusters
from reflexio_admin import roles
from reflexio_admin.audit import client_address
from reflexio_admin.forms import OperationFilterForm
from reflexio_admin.http import AuthenticatedHttpRequest, render_page, wants_fragment
from reflexio_admin.models import Operation, OperationKind, OperationUser
from reflexio_admin.operations import OperationError, operation_cancel, operation_retry
from reflexio_admin.permissions import require
from reflexio_admin.runner import RETRYABLE_KINDS
from reflexio_admin.views.paging import cursor_page

logger = logging.getLogger(__name__)

PROGRESS_TEMPLATE = "reflexio_admin/_operation_progress.html"
ERRORS_PAGE_SIZE = 25

PROFILE_RERUN_KINDS = {OperationKind.RERUN_PROFILES}
PLAYBOOK_RERUN_KINDS = {OperationKind.RERUN_PLAYBOOKS}


def _review_url(operation: Operation) -> str | None:
    """Where to review what a rerun produced."""
    params = operation.params
    if operation.kind in PROFILE_RERUN_KINDS:
        query = {"user_id": params["user_id"]} if params.get("user_id") else {}
        return f"{reverse('profiles:review')}?{urlencode(query)}"
    if operation.kind in PLAYBOOK_RERUN_KINDS:
        query = {"agent_version": params.get("agent_version", "")}
        if params.get("playbook_name"):
            query["playbook_name"] = params["playbook_name"]
        return f"{reverse('playbooks:review')}?{urlencode(query)}"
    return None


def progress_context(operation: Operation) -> dict[str, Any]:
    return {
        "operation": operation,
        "review_url": _review_url(operation),
        "retryable": operation.kind in RETRYABLE_KINDS,
        "agent_playbooks_url": (
            f"{reverse('playbooks:agent_playbook_list')}?"
            + urlencode({"agent_version": operation.params.get("agent_version", "")})
            if operation.kind == OperationKind.AGGREGATE_PLAYBOOKS
            else None
        ),
    }


class StartForm(Protocol):
    """A form that starts an operation: it validates, then names the arguments."""

    def is_valid(self) -> bool: ...

    def add_error(self, field: str | None, error: str) -> None: ...

    def arguments(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class OperationPage:
    """How one start form presents itself."""

    title: str
    intro: str
    submit_label: str
    nav: str


def operation_form(
    request: AuthenticatedHttpRequest,
    form: StartForm,
    start: Callable[[dict[str, Any]], Operation],
    page: OperationPage,
    extra: dict[str, Any] | None = None,
) -> HttpResponse:
    """Validate a start form, start the run, and show its progress in place.

    `start(arguments)` calls the service. Its OperationError (e.g. an
    overlapping run, a missing batch_size) becomes an error on the form.
    htmx gets the progress fragment; a plain POST goes to the operation page.
    """
    if request.method == "POST" and form.is_valid():
        try:
            operation = start(form.arguments())
        except OperationError as exc:
            form.add_error(None, str(exc))
        else:
            logger.info("%s started operation %s", request.user, operation.pk)
            if wants_fragment(request):
                context = progress_context(operation) | {"started": True}
                return render(request, PROGRESS_TEMPLATE, context)
            return redirect("console:operation_detail", pk=operation.pk)

    context = {"form": form, "page": page, "action": request.path} | (extra or {})
    return render_page(
        request, "reflexio_admin/operation_form.html", context, fragment="form-panel"
    )


def start_arguments(request: AuthenticatedHttpRequest) -> dict[str, Any]:
    """Who starts a run and from where, as every service takes it."""
    return {"requested_by": request.user, "ip_address": client_address(request)}


@require(roles.VIEW_CONSOLE)
def operation_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    filters = OperationFilterForm(request.GET)
    operations = Operation.objects.select_related("requested_by")
    if filters.is_valid():
        if filters.cleaned_data["kind"]:
            operations = operations.filter(kind=filters.cleaned_data["kind"])
        if filters.cleaned_data["status"]:
            operations = operations.filter(status=filters.cleaned_data["status"])

    context = {"filters": filters, "page": cursor_page(operations, request.GET)}
    return render_page(
        request, "reflexio_admin/operation_list.html", context, fragment="results"
    )


@require(roles.VIEW_CONSOLE)
def operation_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    operation = get_object_or_404(
        Operation.objects.select_related("requested_by", "retry_of"), pk=pk
    )
    failed = OperationUser.objects.filter(
        operation=operation, state=OperationUser.State.FAILED
    )
    errors = cursor_page(
        failed, request.GET, size=ERRORS_PAGE_SIZE, cursor_name="errors_after"
    )
    clusters = None
    if operation.kind == OperationKind.AGGREGATE_PLAYBOOKS:
        clusters = aggregation_clusters(operation)
        with_card_links(c.agent_playbook for c in clusters if c.agent_playbook)

    context = progress_context(operation) | {
        "errors": errors,
        "clusters": clusters,
        "audit_events": operation.audit_events.select_related("actor")[:50],
        "retries": operation.retries.order_by("-id")[:10],
    }
    return render_page(
        request, "reflexio_admin/operation_detail.html", context, fragment="errors"
    )


@require(roles.VIEW_CONSOLE)
@vary_on_headers("HX-Request")
def operation_progress(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The progress bar, polled by htmx every second while the run is active."""
    operation = get_object_or_404(Operation, pk=pk)
    if not wants_fragment(request):
        return redirect("console:operation_detail", pk=operation.pk)

    response = render(request, PROGRESS_TEMPLATE, progress_context(operation))
    if operation.is_active:
        return response
    return HttpResponseStopPolling(response.content)


def _after_change(
    request: AuthenticatedHttpRequest, operation: Operation
) -> HttpResponse:
    if wants_fragment(request):
        context = progress_context(operation) | {"oob_messages": True}
        return render(request, PROGRESS_TEMPLATE, context)
    return redirect("console:operation_detail", pk=operation.pk)


@require(roles.RUN_OPERATIONS)
@require_POST
def operation_cancel_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    operation = get_object_or_404(Operation, pk=pk)
    try:
        operation = operation_cancel(
            operation=operation,
            actor=request.user,
            ip_address=client_address(request),
        )
    except OperationError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Cancel requested for operation #{operation.pk}.")
    return _after_change(request, operation)


@require(roles.RUN_OPERATIONS)
@require_POST
def operation_retry_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    operation = get_object_or_404(Operation, pk=pk)
    try:
        retry = operation_retry(
            operation=operation,
            actor=request.user,
            ip_address=client_address(request),
        )
    except OperationError as exc:
        messages.error(request, str(exc))
        return _after_change(request, operation)

    messages.success(request, f"Operation #{retry.pk} retries #{operation.pk}.")
    target = reverse("console:operation_detail", args=[retry.pk])
    if request.htmx:
        return HttpResponseClientRedirect(target)
    return redirect(target)
