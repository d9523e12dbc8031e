"""The one decorator every console view wears: log in, then hold a right."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import resolve_url
from django_htmx.http import HttpResponseClientRedirect

from reflexio_admin.http import AuthenticatedHttpRequest
from reflexio_admin.security import record_permission_denied

logger = logging.getLogger(__name__)

View = Callable[..., HttpResponse]


def require(perm: str) -> Callable[[View], View]:
    """Let logged-in users holding `perm` through; others go to login or get 403.

    Every 403 is written to the audit log (who, what it needed, from where).

    An htmx request is answered with HX-Redirect so that the whole page goes
    to the login form (with `next` set to the page, not to the fragment).
    """

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(
            request: AuthenticatedHttpRequest, *args: Any, **kwargs: Any
        ) -> HttpResponse:
            if not request.user.is_authenticated:
                return _to_login(request)
            if not request.user.has_perm(perm):
                logger.info("%s lacks %s for %s", request.user, perm, request.path)
                record_permission_denied(request, perm)
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def _to_login(request: AuthenticatedHttpRequest) -> HttpResponse:
    if request.htmx:
        page = request.htmx.current_url_abs_path or request.get_full_path()
        login = redirect_to_login(page, resolve_url(settings.LOGIN_URL))
        return HttpResponseClientRedirect(login.url)
    return redirect_to_login(request.get_full_path())
