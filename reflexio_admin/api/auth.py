"""Bearer API key authentication and the permission each endpoint needs.

Only `Authorization: Bearer <key>` is accepted; a console session cookie is
not. Keys are looked up by their SHA-256 hash, revoked keys fail at once, and
`last_used_at` is written at most once a minute per key.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from reflexio_admin import roles
from reflexio_admin.models import ApiKey, hash_api_key

logger = logging.getLogger(__name__)

LAST_USED_RESOLUTION = timedelta(minutes=1)
MAX_KEY_LENGTH = 200

# Which permission each kind of call needs (superusers pass every check).
READ = roles.VIEW_CONSOLE
PUBLISH = roles.VIEW_CONSOLE
EDIT = roles.EDIT_PROFILES
GENERATE_ONE_USER = roles.GENERATE_FOR_USER
OPERATE = roles.RUN_OPERATIONS
REVIEW = roles.REVIEW_PLAYBOOKS


class AuthError(Exception):
    """The request is not allowed; `status_code` is 401 or 403.

    A 403 names the permission that was missing and the user who lacked it,
    for the audit log.
    """

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        permission: str = "",
        user: Any = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.permission = permission
        self.user = user


def _bearer_token(request: HttpRequest) -> str:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header:
        raise AuthError(
            401,
            "Authentication required: send 'Authorization: Bearer <API key>'. "
            "Create a key in the console or with `manage.py create_api_key`.",
        )
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthError(401, "The Authorization header must be 'Bearer <API key>'.")
    if len(token) > MAX_KEY_LENGTH:
        raise AuthError(401, "Invalid API key.")
    return token


def authenticate(request: HttpRequest) -> ApiKey:
    """Return the API key the request carries, or raise AuthError (401)."""
    token = _bearer_token(request)
    key = (
        ApiKey.objects.select_related("user")
        .filter(key_hash=hash_api_key(token))
        .first()
    )
    if key is None:
        logger.info("API request with an unknown key refused")
        raise AuthError(401, "Invalid API key.")
    if key.revoked_at is not None:
        logger.info("API request with revoked key #%s refused", key.pk)
        raise AuthError(401, "This API key has been revoked.")
    if not key.user.is_active:
        raise AuthError(401, "The user this API key belongs to is deactivated.")
    _touch(key)
    return key


def _touch(key: ApiKey) -> None:
    now = timezone.now()
    if key.last_used_at and now - key.last_used_at < LAST_USED_RESOLUTION:
        return
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    key.last_used_at = now


def require(key: ApiKey, permission: str) -> None:
    """Raise AuthError (403) unless the key's user holds `permission`."""
    if key.user.has_perm(permission):
        return
    name = permission.rpartition(".")[2]
    raise AuthError(
        403,
        f"The user of this API key ({key.user.get_username()}) lacks the "
        f"'{name}' permission this call needs. Ask an admin for a role that "
        "grants it.",
        permission=permission,
        user=key.user,
    )
