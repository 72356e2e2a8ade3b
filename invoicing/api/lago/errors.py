"""Lago's error bodies, in one place (docs/lago.md)."""

from __future__ import annotations

import logging

from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.response import Response

from invoicing.api.unavailable import is_database_unavailable, retry_after
from invoicing.errors import AlreadyExists, NotAllowed, NotFound, ValidationFailed

logger = logging.getLogger("invoicing.api")


class ParamMissing(Exception):
    """The body's root key (``{"invoice": {...}}``) is absent, empty or not an
    object: Rails' ``ActionController::ParameterMissing``."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


# DRF's error codes, in Lago's words.
_CODE_MAP = {
    "required": "value_is_mandatory",
    "null": "value_is_mandatory",
    "blank": "value_is_mandatory",
    "empty": "value_is_mandatory",
    "invalid": "value_is_invalid",
    "invalid_choice": "value_is_invalid",
    "not_a_list": "value_is_invalid",
    "not_a_dict": "value_is_invalid",
    "date": "invalid_date",
    "datetime": "invalid_date",
    "max_length": "value_is_too_long",
    "min_length": "value_is_too_short",
    "max_value": "value_is_out_of_range",
    "min_value": "value_is_out_of_range",
    "max_digits": "value_is_out_of_range",
    "max_decimal_places": "value_is_invalid",
    "max_whole_digits": "value_is_out_of_range",
    "max_string_length": "value_is_out_of_range",
    "unique": "value_already_exist",
}

REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def flatten_errors(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as Lago's flat ``{"field.path": [codes]}``."""
    flat: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            path = key if not prefix else f"{prefix}.{key}"
            if key == "non_field_errors":
                path = prefix or "base"
            for sub, codes in flatten_errors(value, path).items():
                flat.setdefault(sub, []).extend(codes)
    elif isinstance(detail, list):
        if detail and all(isinstance(item, exceptions.ErrorDetail) for item in detail):
            flat[prefix or "base"] = [_CODE_MAP.get(item.code, item.code) for item in detail]
        else:
            for index, item in enumerate(detail):
                if item:
                    flat.update(flatten_errors(item, f"{prefix}.{index}" if prefix else str(index)))
    elif isinstance(detail, exceptions.ErrorDetail):
        flat[prefix or "base"] = [_CODE_MAP.get(detail.code, detail.code)]
    return flat


def lago_error(status: int, code: str | None = None, **extra) -> dict:
    body: dict = {"status": status, "error": REASONS.get(status, "Error")}
    if code:
        body["code"] = code
    body.update(extra)
    return body


def error_body(exc: Exception) -> tuple[int, dict] | None:
    if isinstance(exc, ParamMissing):
        # ``Api::BaseController`` rescues it with ``bad_request_error``: no
        # code, the exception's message (Rails 8's wording) in ``error``.
        message = f"param is missing or the value is empty or invalid: {exc.name}"
        return 400, {"status": 400, "error": f"BadRequest: {message}"}
    if isinstance(exc, NotFound):
        return 404, lago_error(404, exc.code)
    if isinstance(exc, ValidationFailed):
        return 422, lago_error(422, "validation_errors", error_details=exc.details)
    if isinstance(exc, AlreadyExists):
        return 422, lago_error(422, "validation_errors", error_details={"base": [exc.code]})
    if isinstance(exc, NotAllowed):
        return 405, lago_error(405, exc.code)
    if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        return 401, lago_error(401)
    if isinstance(exc, exceptions.ValidationError):
        return 422, lago_error(422, "validation_errors", error_details=flatten_errors(exc.detail))
    if isinstance(exc, exceptions.ParseError):
        # Rails answers a body it cannot parse with ActionDispatch::PublicExceptions,
        # as lago-api sets no exceptions_app of its own.
        return 400, {"status": 400, "error": "Bad Request"}
    if isinstance(exc, RequestDataTooBig):
        return 413, lago_error(413, "payload_too_large")
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return 415, lago_error(415, "unsupported_media_type")
    if isinstance(exc, (exceptions.MethodNotAllowed, exceptions.NotFound)):
        # Lago routes only what exists: a wrong method is an unknown route.
        return 404, lago_error(404, "resource_not_found")
    if isinstance(exc, exceptions.PermissionDenied):
        return 401, lago_error(401)
    if isinstance(exc, exceptions.Throttled):
        return 429, lago_error(429, "too_many_requests")
    if is_database_unavailable(exc):
        return 503, lago_error(503, "service_unavailable")
    return None


def exception_handler(exc, context):
    mapped = error_body(exc)
    if mapped is None:
        logger.exception("unhandled error in %s", context.get("view").__class__.__name__)
        mapped = 500, lago_error(500)
    status, body = mapped
    headers = {}
    wait = retry_after(exc)
    if wait:
        headers["Retry-After"] = wait
    return Response(body, status=status, headers=headers)


@csrf_exempt
def not_found_view(request, *args, **kwargs):
    """Catch-all under ``/api/v1/``: always a JSON body (lago-python-client
    turns an empty error body into a fake 500)."""
    return JsonResponse(lago_error(404, "resource_not_found"), status=404)
