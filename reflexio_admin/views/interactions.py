"""The interactions page: conversations by user and session, with filters."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpResponse

from reflexio_admin import roles
from reflexio_admin.forms import InteractionFilterForm, optional
from reflexio_admin.http import AuthenticatedHttpRequest, render_page
from reflexio_admin.models import Interaction
from reflexio_admin.permissions import require
from reflexio_admin.views.paging import cursor_page


def _interactions(filters: InteractionFilterForm) -> QuerySet[Interaction]:
    qs = Interaction.objects.select_related("request")
    data = filters.cleaned_data if filters.is_valid() else {}
    for name in ("user_id", "agent_version", "source"):
        if value := optional(data.get(name)):
            qs = qs.filter(**{name: value})
    if session_id := optional(data.get("session_id")):
        qs = qs.filter(request__session_id=session_id)
    if text := optional(data.get("q")):
        qs = qs.filter(content__icontains=text)
    return qs


@require(roles.VIEW_CONSOLE)
def interaction_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    filters = InteractionFilterForm(request.GET)
    context = {
        "filters": filters,
        "page": cursor_page(_interactions(filters), request.GET),
    }
    return render_page(
        request, "reflexio_admin/interaction_list.html", context, fragment="results"
    )
