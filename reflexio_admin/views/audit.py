"""The audit log: who did what, when, with the text before and after."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render

from reflexio_admin import roles
from reflexio_admin.forms import AUDIT_ACTIONS, AuditFilterForm, optional
from reflexio_admin.http import AuthenticatedHttpRequest, render_page
from reflexio_admin.models import AuditEvent
from reflexio_admin.permissions import require
from reflexio_admin.views.paging import cursor_page

DELETED_ITEMS_SHOWN = 200


def as_text(value: Any) -> str:
    """Before/after values as indented JSON; templates escape it on output."""
    if value is None:
        return ""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


def _field_text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class Change:
    field: str
    before: str
    after: str


def changes(before: Any, after: Any) -> list[Change]:
    """The fields an event changed, each as text before and after.

    Added items show every field after, deleted ones every field before.
    """
    if not isinstance(before, dict) and not isinstance(after, dict):
        if before is None and after is None:
            return []
        return [Change("value", _field_text(before), _field_text(after))]
    old, new = before or {}, after or {}
    fields = sorted(set(old) | set(new))
    if before and after:
        fields = [name for name in fields if old.get(name) != new.get(name)]
    return [
        Change(name, _field_text(old.get(name)), _field_text(new.get(name)))
        for name in fields
    ]


def _events(filters: AuditFilterForm) -> QuerySet[AuditEvent]:
    qs = AuditEvent.objects.select_related("actor", "operation")
    data = filters.cleaned_data if filters.is_valid() else {}
    if action := optional(data.get("action")):
        qs = qs.filter(action=action)
    if actor := optional(data.get("actor")):
        # Filter on the indexed key; a name nobody has matches nothing.
        actor_ids = User.objects.filter(username=actor).values_list("pk", flat=True)
        qs = qs.filter(actor_id__in=list(actor_ids))
    if user_id := optional(data.get("user_id")):
        qs = qs.filter(scope__user_id=user_id)
    return qs


@require(roles.VIEW_CONSOLE)
def audit_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    filters = AuditFilterForm(request.GET)
    page = cursor_page(_events(filters), request.GET)
    for event in page.items:
        event.changes = changes(event.before, event.after)

    context = {"filters": filters, "page": page, "actions": AUDIT_ACTIONS}
    return render_page(
        request, "reflexio_admin/audit_list.html", context, fragment="results"
    )


@require(roles.VIEW_CONSOLE)
def audit_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    event = get_object_or_404(
        AuditEvent.objects.select_related("actor", "operation"), pk=pk
    )
    deleted = event.deleted_items.order_by("id")
    context = {
        "event": event,
        "before_text": as_text(event.before),
        "after_text": as_text(event.after),
        "scope_text": as_text(event.scope),
        "deleted": [
            (item, as_text(item.data)) for item in deleted[:DELETED_ITEMS_SHOWN]
        ],
        "deleted_total": deleted.count(),
        "deleted_shown": DELETED_ITEMS_SHOWN,
    }
    return render(request, "reflexio_admin/audit_detail.html", context)
