"""Login throttling and the audit trail of sign-ins and refusals."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.signals import (
    user_logged_in,
    user_logged_out,
    user_login_failed,
)
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.dispatch import receiver
from django.http import HttpRequest

from reflexio_admin.audit import audit_record, client_address

logger = logging.getLogger(__name__)


class LoginThrottled(PermissionDenied):
    """Too many failed sign-ins; the message says how long to wait."""


def _key(kind: str, value: str) -> str:
    digest = hashlib.sha256(value.lower().encode()).hexdigest()[:32]
    return f"login-failures:{kind}:{digest}"


def _keys(username: str, address: str | None) -> list[str]:
    keys = [_key("user", username)]
    if address:
        keys.append(_key("ip", address))
    return keys


def login_locked(username: str, address: str | None) -> bool:
    limit = settings.LOGIN_FAILURE_LIMIT
    return any((cache.get(key) or 0) >= limit for key in _keys(username, address))


def note_login_failure(username: str, address: str | None) -> None:
    for key in _keys(username, address):
        cache.add(key, 0, timeout=settings.LOGIN_COOLOFF_SECONDS)
        try:
            cache.incr(key)
        except ValueError:
            cache.set(key, 1, timeout=settings.LOGIN_COOLOFF_SECONDS)


def clear_login_failures(username: str, address: str | None) -> None:
    cache.delete_many(_keys(username, address))


def cooloff_message() -> str:
    minutes = max(1, settings.LOGIN_COOLOFF_SECONDS // 60)
    return (
        "Too many failed sign-in attempts. Sign-in is paused for this account "
        f"and address; try again in {minutes} minutes."
    )


class ThrottledModelBackend(ModelBackend):
    """Django's model backend, refusing sign-ins during a cool-off.

    Raising PermissionDenied makes `authenticate()` stop at once, so a locked
    account is not checked against its password at all.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        if username and login_locked(username, client_address(request)):
            raise LoginThrottled(cooloff_message())
        return super().authenticate(
            request, username=username, password=password, **kwargs
        )


class ThrottledAuthenticationForm(AuthenticationForm):
    """The login form, saying so plainly when sign-in is paused.

    Django's form answers a refused sign-in with its generic "enter a correct
    username and password"; during a cool-off that would send people guessing
    passwords again, so the form names the pause and how long it lasts.
    """

    def clean(self) -> dict[str, Any]:
        try:
            return super().clean()
        except ValidationError:
            username = self.cleaned_data.get("username") or ""
            if username and login_locked(username, client_address(self.request)):
                raise ValidationError(cooloff_message(), code="throttled") from None
            raise


@receiver(user_login_failed)
def _on_login_failed(
    sender: Any,
    credentials: dict[str, Any],
    request: HttpRequest | None = None,
    **_: Any,
) -> None:
    username = str(credentials.get("username", ""))[:150]
    address = client_address(request)
    throttled = login_locked(username, address)
    if not throttled:
        note_login_failure(username, address)
    audit_record(
        action="login_throttled" if throttled else "login_failed",
        scope={"username": username},
        ip_address=address,
    )
    logger.warning("Failed sign-in from %s", address or "an unknown address")


@receiver(user_logged_in)
def _on_logged_in(sender: Any, request: HttpRequest, user: Any, **_: Any) -> None:
    clear_login_failures(user.get_username(), client_address(request))
    audit_record(action="login", actor=user, ip_address=client_address(request))


@receiver(user_logged_out)
def _on_logged_out(
    sender: Any, request: HttpRequest, user: Any = None, **_: Any
) -> None:
    if user is not None:
        audit_record(action="logout", actor=user, ip_address=client_address(request))


def record_permission_denied(
    request: HttpRequest, permission: str, *, actor: Any = None
) -> None:
    """Audit a refused request: who, what they tried, from where.

    `actor` defaults to the session's user; the API passes the user of the
    API key, since API requests carry no session.
    """
    user = actor if actor is not None else getattr(request, "user", None)
    audit_record(
        action="permission_denied",
        actor=user,
        scope={
            "path": request.path[:500],
            "method": request.method,
            "needs": permission,
        },
        ip_address=client_address(request),
    )
