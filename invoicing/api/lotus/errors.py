"""Lotus's error bodies, in one place (docs/lotus.md).

Upstream renders every error through drf-standardized-errors with its own RFC
7807 formatter (uselotus/lotus ``metering_billing/exceptions/handler.py``):
``{"type": ".../error-responses#<kind>", "detail": ..., "title": <code>}``, where
the kind is ``validation-error``, ``client-error`` or ``server-error``, and a
validation error adds ``validation_errors: [{"code", "detail", "attr"}]``.
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response

from invoicing.api.unavailable import is_database_unavailable, retry_after
from invoicing.errors import AlreadyExists, NotAllowed, NotFound, ValidationFailed

logger = logging.getLogger("invoicing.api")

ERROR_DOCS = "https://docs.uselotus.io/errors/error-responses"
VALIDATION_ERROR = "validation-error"
CLIENT_ERROR = "client-error"
SERVER_ERROR = "server-error"

# drf-standardized-errors' answer to an unhandled exception.
SERVER_ERROR_DETAIL = "A server error occurred."
SERVER_ERROR_CODE = "error"


class PdfGenerationFailed(exceptions.APIException):
    """The invoice's PDF job ran out of attempts, and the one re-arming a
    download gives it failed too; an operator has to retry it (the ops page
    and the admin list it). A 503, not a 500: nothing broke in this request."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = (
        "The PDF of this invoice could not be generated; the operators can see why and retry it."
    )
    default_code = "pdf_generation_failed"


def lotus_error(kind: str, detail: str, title: str, validation_errors=None) -> dict:
    body = {"type": f"{ERROR_DOCS}#{kind}", "detail": detail, "title": title}
    if validation_errors is not None:
        body["validation_errors"] = validation_errors
    return body


def flatten_errors(detail, attr: str | None = None) -> list[dict]:
    """DRF's nested error detail as drf-standardized-errors' flat list, nested
    attributes joined with dots (``address.city``, ``items.0.name``)."""
    if isinstance(detail, dict):
        errors = []
        for key, value in detail.items():
            errors += flatten_errors(value, f"{attr}.{key}" if attr else str(key))
        return errors
    if isinstance(detail, list):
        errors = []
        for index, item in enumerate(detail):
            if isinstance(item, (dict, list)):
                errors += flatten_errors(item, f"{attr}.{index}" if attr else str(index))
            else:
                errors += flatten_errors(item, attr)
        return errors
    code = getattr(detail, "code", None) or "invalid"
    return [{"code": code, "detail": str(detail), "attr": attr}]


def _validation_body(errors: list[dict]) -> dict:
    first = errors[0] if errors else {"code": "invalid", "detail": "Invalid input."}
    return lotus_error(VALIDATION_ERROR, first["detail"], first["code"], errors)


def error_body(exc: Exception) -> tuple[int, dict] | None:
    if isinstance(exc, (NotFound, Http404)):
        return 404, lotus_error(CLIENT_ERROR, "Not found.", "not_found")
    if isinstance(exc, ValidationFailed):
        errors = [
            {"code": code, "detail": code, "attr": field}
            for field, codes in exc.details.items()
            for code in codes
        ]
        return 400, _validation_body(errors)
    if isinstance(exc, NotAllowed):
        return 400, lotus_error(CLIENT_ERROR, str(exc), "invalid_state")
    if isinstance(exc, AlreadyExists):
        # Upstream's DuplicateCustomer: 400 duplicate_resource.
        return 400, lotus_error(CLIENT_ERROR, str(exc), "duplicate_resource")
    if isinstance(exc, RequestDataTooBig):
        return 413, lotus_error(
            CLIENT_ERROR, "Request body exceeds the size limit.", "request_too_large"
        )
    if isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, exceptions.ValidationError):
        return 400, _validation_body(flatten_errors(exc.detail))
    if isinstance(exc, exceptions.APIException):
        detail = exc.detail
        code = getattr(detail, "code", None) or exc.default_code
        kind = SERVER_ERROR if exc.status_code >= 500 else CLIENT_ERROR
        return exc.status_code, lotus_error(kind, str(detail), code)
    if is_database_unavailable(exc):
        return 503, lotus_error(
            SERVER_ERROR,
            "The service is briefly unavailable; retry the request.",
            "service_unavailable",
        )
    return None


def exception_handler(exc, context):
    mapped = error_body(exc)
    if mapped is None:
        view = context.get("view")
        logger.exception("unhandled error in %s", view.__class__.__name__ if view else "?")
        mapped = 500, lotus_error(SERVER_ERROR, SERVER_ERROR_DETAIL, SERVER_ERROR_CODE)
    status_code, body = mapped
    headers = {}
    auth_header = getattr(exc, "auth_header", None)
    if auth_header:
        headers["WWW-Authenticate"] = auth_header
    wait = retry_after(exc)
    if wait:
        headers["Retry-After"] = wait
    return Response(body, status=status_code, headers=headers)


@csrf_exempt
def not_found_view(request, *args, **kwargs):
    """Catch-all under ``/api/`` (beside Lago's ``/api/v1/``): Lotus's JSON 404
    for any route it does not serve, whatever the method."""
    return JsonResponse(lotus_error(CLIENT_ERROR, "Not found.", "not_found"), status=404)
