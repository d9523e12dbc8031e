"""Typed requests and the page-or-fragment response every console view uses."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


class AuthenticatedHttpRequest(HtmxHttpRequest):
    """A request that passed `permissions.require`: the user is logged in."""

    user: User


def wants_fragment(request: HtmxHttpRequest) -> bool:
    """True for htmx requests that swap part of a page.

    Boosted requests replace the whole body and history restores rebuild the
    whole page, so both get the full page.
    """
    htmx = request.htmx
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render_page(
    request: HtmxHttpRequest,
    template_name: str,
    context: dict[str, Any],
    *,
    fragment: str,
    status: int = 200,
) -> HttpResponse:
    """Render the page, or for htmx only what it swaps.

    `fragment` names a `{% partialdef %}` of the page, or a template file of
    its own when it ends in ".html". The response varies on HX-Request, so
    caches keep the two apart.
    """
    name = template_name
    if wants_fragment(request):
        name = fragment if fragment.endswith(".html") else f"{template_name}#{fragment}"
    response = render(request, name, context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


def safe_next(request: HttpRequest, fallback: str) -> str:
    """The `next` parameter when it is a path on this site, else `fallback`.

    Only absolute paths count: `redirect()` would read anything else as the
    name of a URL pattern, and an unknown name is a 500, not a redirect.
    """
    target = request.POST.get("next") or request.GET.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if target.startswith("/") and allowed else fallback
