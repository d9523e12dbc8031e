"""The overview: how much knowledge there is, what runs, which model is live."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render

from playbooks import selectors as playbook_selectors
from profiles import selectors as profile_selectors
from reflexio_admin import roles
from reflexio_admin.http import AuthenticatedHttpRequest
from reflexio_admin.llm import get_provider
from reflexio_admin.models import ACTIVE_STATUSES, GenerationSettings, Operation
from reflexio_admin.permissions import require
from reflexio_admin.views.paging import COUNT_CAP, capped_counts

RECENT_OPERATIONS = 10


@require(roles.VIEW_CONSOLE)
def overview(request: AuthenticatedHttpRequest) -> HttpResponse:
    operations = Operation.objects.select_related("requested_by").order_by("-id")
    provider = get_provider()
    context = {
        "profile_counts": capped_counts(
            profile_selectors.profiles_by_status(), COUNT_CAP
        ),
        "user_playbook_counts": capped_counts(
            playbook_selectors.user_playbooks_by_status(), COUNT_CAP
        ),
        "agent_playbook_counts": capped_counts(
            playbook_selectors.agent_playbooks_by_approval(), COUNT_CAP
        ),
        "running": list(operations.filter(status__in=ACTIVE_STATUSES)[:20]),
        "recent": list(
            operations.exclude(status__in=ACTIVE_STATUSES)[:RECENT_OPERATIONS]
        ),
        "provider": provider,
        "generation_settings": GenerationSettings.load(),
    }
    return render(request, "reflexio_admin/overview.html", context)
