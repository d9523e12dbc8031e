"""Request guards that apply to every console page."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict

logger = logging.getLogger(__name__)

# The JSON API checks its own input and answers in JSON (reflexio_admin/api).
API_PREFIX = "/api/"


def _nul_field(data: QueryDict) -> str | None:
    for name, values in data.lists():
        if "\x00" in name or any("\x00" in value for value in values):
            return name.replace("\x00", "\\x00")[:100]
    return None


class RefuseNulMiddleware:
    """Answer 400 to a query string or form that carries a NUL character.

    PostgreSQL can neither store nor compare text containing NUL, so such a
    value reaching any filter or write would be a server error. Django's form
    fields refuse it already; this covers the parameters views read directly
    (scopes, cursors, `next`). It runs as a view hook, after the CSRF check.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Any, args: Any, kwargs: Any
    ) -> HttpResponse | None:
        if request.path.startswith(API_PREFIX):
            return None
        where = _nul_field(request.GET)
        if where is None and request.method == "POST":
            where = _nul_field(request.POST)
        if where is None:
            return None
        logger.info("Refused a request with NUL in %s", where)
        return HttpResponseBadRequest(
            f"The value of {where} contains a NUL character (\\x00), which "
            "cannot be stored. Remove it and try again.",
            content_type="text/plain; charset=utf-8",
        )
