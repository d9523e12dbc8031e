"""Operation status, cancel and retry, in Reflexio's shape."""

from __future__ import annotations

import logging

from reflexio_admin.api import schemas, selectors
from reflexio_admin.api import serializers as wire
from reflexio_admin.api.auth import OPERATE, READ
from reflexio_admin.api.http import (
    POST,
    ApiError,
    ApiRequest,
    Json,
    actor_of,
    endpoint,
    get_or_404,
    started,
)
from reflexio_admin.models import ACTIVE_STATUSES, Operation, OperationKind
from reflexio_admin.operations import (
    OperationError,
    operation_cancel,
    operation_retry,
    operations_reap_stale,
)

logger = logging.getLogger(__name__)


def _kinds(service_name: str) -> tuple[str, ...]:
    if service_name in wire.SERVICE_KINDS:
        return wire.SERVICE_KINDS[service_name]
    if service_name in OperationKind.values:
        return (service_name,)
    names = ", ".join(wire.SERVICE_KINDS)
    raise ApiError(
        400,
        f"service_name: unknown service {service_name!r}; use one of {names} "
        "(or an operation kind).",
    )


@endpoint(
    methods=("GET", "POST"),
    permission=READ,
    schema=schemas.GetOperationStatusRequest,
)
def get_operation_status(
    request: ApiRequest, payload: schemas.GetOperationStatusRequest
) -> Json:
    operations_reap_stale()
    name = payload.service_name or "profile_generation"
    if payload.operation_id:
        operation = get_or_404(Operation.objects, "operation", pk=payload.operation_id)
    else:
        operation = selectors.latest_operation(_kinds(name))
    if operation is None:
        return {
            "success": True,
            "operation_status": None,
            "msg": f"No {name} operation has run yet.",
        }
    return {
        "success": True,
        "operation_status": wire.operation_status_info(operation),
        "msg": None,
    }


@endpoint(methods=POST, permission=OPERATE, schema=schemas.CancelOperationRequest)
def cancel_operation(
    request: ApiRequest, payload: schemas.CancelOperationRequest
) -> Json:
    if payload.operation_id:
        targets = [get_or_404(Operation.objects, "operation", pk=payload.operation_id)]
        if not targets[0].is_active:
            raise OperationError(
                f"Operation #{targets[0].pk} has already ended ({targets[0].status})."
            )
        names = [wire.service_name(targets[0].kind)]
    else:
        names = (
            [payload.service_name]
            if payload.service_name
            else ["profile_generation", "playbook_generation"]
        )
        kinds = [kind for name in names for kind in _kinds(name)]
        targets = list(
            Operation.objects.filter(kind__in=kinds, status__in=ACTIVE_STATUSES)
        )
    cancelled = []
    for operation in targets:
        try:
            operation_cancel(operation=operation, **actor_of(request))
        except OperationError:
            continue  # It ended between the query and the cancel.
        cancelled.append(operation)
    if not cancelled:
        return {
            "success": False,
            "cancelled_services": [],
            "cancelled_operation_ids": [],
            "msg": f"No {' or '.join(names)} operation is in progress.",
        }
    return {
        "success": True,
        "cancelled_services": sorted({wire.service_name(op.kind) for op in cancelled}),
        "cancelled_operation_ids": [op.pk for op in cancelled],
        "msg": (
            f"Cancel requested for operation(s) "
            f"{', '.join(f'#{op.pk}' for op in cancelled)}; a running one stops "
            "before its next user."
        ),
    }


@endpoint(methods=POST, permission=OPERATE, schema=schemas.RetryOperationRequest)
def retry_operation(
    request: ApiRequest, payload: schemas.RetryOperationRequest
) -> Json:
    original = get_or_404(Operation.objects, "operation", pk=payload.operation_id)
    operation = operation_retry(operation=original, **actor_of(request))
    return {
        "success": True,
        "msg": started(operation),
        "operation_id": str(operation.pk),
    }
