"""Writing the audit log. Every operation and every manual edit records here."""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpRequest

from reflexio_admin.models import AuditEvent, Operation

logger = logging.getLogger(__name__)


def client_address(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def audit_record(
    *,
    action: str,
    actor: Any = None,
    scope: dict[str, Any] | None = None,
    counts: dict[str, int] | None = None,
    before: Any = None,
    after: Any = None,
    operation: Operation | None = None,
    ip_address: str | None = None,
) -> AuditEvent:
    """Write one audit event. `actor` is a user or None for the system."""
    authenticated = actor is not None and getattr(actor, "is_authenticated", False)
    return AuditEvent.objects.create(
        actor=actor if authenticated else None,
        actor_name=actor.get_username() if authenticated else "system",
        action=action,
        scope=scope or {},
        counts=counts or {},
        before=before,
        after=after,
        operation=operation,
        ip_address=ip_address,
    )
