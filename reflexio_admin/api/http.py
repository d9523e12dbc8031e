"""The plumbing every API view shares: method, auth, size, parsing, errors.

A view is declared with `@endpoint(...)`; it receives the request and the
validated body (or query) and returns a dict, which becomes JSON. Whatever it
raises is turned into a JSON error `{"success": false, "msg": ...}` with the
right status: 400 for invalid input and failed preconditions, 401/403 for
auth, 404 for unknown ids, 405 for a wrong method, 409 for a conflicting run,
413 for an oversized body and 503 when the job queue is down.

The HTTP reason phrase repeats the message (ASCII, shortened), so clients
that only show the status line, such as `requests`' HTTPError, still show
why the call failed.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from pydantic import BaseModel, ValidationError

from reflexio_admin.api import auth
from reflexio_admin.api.schemas import describe_errors, nul_path
from reflexio_admin.audit import client_address
from reflexio_admin.models import ApiKey, Operation
from reflexio_admin.operations import OperationError
from reflexio_admin.security import record_permission_denied

logger = logging.getLogger(__name__)

MAX_REASON_LENGTH = 200
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]+")

type Json = dict[str, Any]
type Permission = str | Callable[[Any], str] | None
type View = Callable[..., Json | HttpResponse]

GET = ("GET",)
POST = ("POST",)
# Reflexio's client updates with PUT and deletes with DELETE; POST works too.
UPDATE = ("POST", "PUT")
DELETE = ("DELETE", "POST")


class ApiRequest(HttpRequest):
    api_key: ApiKey
    api_user: Any


class ApiError(Exception):
    """Raised by views for an answer other than success, e.g. 404."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def error_response(status: int, message: str) -> JsonResponse:
    response = JsonResponse({"success": False, "msg": message}, status=status)
    reason = _UNPRINTABLE.sub(" ", message).strip()
    if reason:
        if len(reason) > MAX_REASON_LENGTH:
            reason = reason[: MAX_REASON_LENGTH - 3].rstrip() + "..."
        response.reason_phrase = reason
    return response


def _body_size_error(size: int) -> ApiError:
    limit = settings.API_MAX_BODY_BYTES
    return ApiError(
        413,
        f"The request body is {size:,} bytes; the limit is {limit:,} bytes "
        "(API_MAX_BODY_BYTES). Send fewer or smaller interactions per request.",
    )


def _read_json(request: HttpRequest) -> dict[str, Any]:
    limit = settings.API_MAX_BODY_BYTES
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if declared.isdigit() and int(declared) > limit:
        raise _body_size_error(int(declared))
    try:
        body = request.body
    except RequestDataTooBig:
        raise _body_size_error(
            int(declared) if declared.isdigit() else limit + 1
        ) from None
    if len(body) > limit:
        raise _body_size_error(len(body))
    if not body.strip():
        return {}
    try:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        _refuse_nul(data)
    except UnicodeDecodeError:
        raise ApiError(400, "The request body is not valid UTF-8.") from None
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"The request body is not valid JSON: {exc}.") from None
    except RecursionError:
        raise ApiError(400, "The request body is nested too deeply.") from None
    return data


def _refuse_nul(data: dict[str, Any]) -> None:
    if where := nul_path(data):
        raise ApiError(400, f"{where}: must not contain NUL characters (\\u0000).")


def _parse(request: HttpRequest, schema: type[BaseModel] | None) -> Any:
    if schema is None:
        return None
    if request.method == "GET":
        data: dict[str, Any] = dict(request.GET.items())
        _refuse_nul(data)
    else:
        data = _read_json(request)
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise ApiError(400, describe_errors(exc)) from None


def _dispatch(
    view: View,
    permission: Permission,
    schema: type[BaseModel] | None,
    request: HttpRequest,
    args: Any,
    kwargs: Any,
) -> HttpResponse:
    key = auth.authenticate(request)
    if isinstance(permission, str):
        auth.require(key, permission)
    api_request: ApiRequest = request  # type: ignore[assignment]
    api_request.api_key = key
    api_request.api_user = key.user
    try:
        payload = _parse(request, schema)
        if callable(permission):
            auth.require(key, permission(payload))
        result = view(api_request, payload, *args, **kwargs)
    except ApiError as exc:
        return error_response(exc.status_code, exc.message)
    except OperationError as exc:
        return error_response(exc.status_code, str(exc))
    except ObjectDoesNotExist as exc:
        return error_response(404, str(exc) or "Not found.")
    if isinstance(result, HttpResponse):
        return result
    return JsonResponse(result)


def endpoint(
    *,
    methods: tuple[str, ...],
    permission: Permission,
    schema: type[BaseModel] | None = None,
) -> Callable[[View], Callable[..., HttpResponse]]:
    """Declare an API view: allowed methods, required permission, body schema.

    `permission` may be a function of the validated payload, for calls whose
    permission depends on their scope (manual generation for one user), or
    None when any valid key will do.
    """

    def decorate(view: View) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                response = error_response(
                    405,
                    f"{request.method} is not allowed here; use "
                    f"{' or '.join(methods)}.",
                )
                response["Allow"] = ", ".join(methods)
                return response
            try:
                return _dispatch(view, permission, schema, request, args, kwargs)
            except auth.AuthError as exc:
                response = error_response(exc.status_code, exc.message)
                if exc.status_code == 401:
                    response["WWW-Authenticate"] = 'Bearer realm="reflexio"'
                if exc.status_code == 403:
                    record_permission_denied(request, exc.permission, actor=exc.user)
                return response

        # What the endpoint accepts, for the tests that walk every endpoint.
        wrapper.api_methods = methods  # type: ignore[attr-defined]
        wrapper.api_permission = permission  # type: ignore[attr-defined]
        wrapper.api_schema = schema  # type: ignore[attr-defined]
        return csrf_exempt(wrapper)

    return decorate


# Helpers for views


def actor_of(request: ApiRequest) -> dict[str, Any]:
    """Who is acting, as the keyword arguments of an editing service."""
    return {"actor": request.api_user, "ip_address": client_address(request)}


def starter_of(request: ApiRequest) -> dict[str, Any]:
    """Who is asking, as the keyword arguments of an operation's start."""
    return {"requested_by": request.api_user, "ip_address": client_address(request)}


def get_or_404[T](qs: QuerySet[T], what: str, **lookup: Any) -> T:
    found = qs.filter(**lookup).first()
    if found is None:
        where = ", ".join(f"{name}={value}" for name, value in lookup.items())
        raise ApiError(404, f"No {what} with {where}.")
    return found


def started(operation: Operation) -> str:
    return (
        f"{operation.get_kind_display()} #{operation.pk} is {operation.status}. "
        f"Follow it with get_operation_status?operation_id={operation.pk}."
    )
