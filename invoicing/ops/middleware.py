"""One structured log line and one latency sample per request."""

from __future__ import annotations

import logging
import re
import time
import uuid

from django.utils.functional import SimpleLazyObject, empty

from invoicing.ops.logs import REDACTED
from invoicing.ops.metrics import REQUEST_SECONDS

logger = logging.getLogger("invoicing.request")

# Routes polled by load balancers and Prometheus: logged at DEBUG so that
# probes every few seconds do not drown the lines people read.
_QUIET_ROUTES = {"healthz", "readyz", "metrics"}
# A caller's request id is echoed only if it looks like one (no log injection).
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Metric labels take values from closed sets only: every distinct label value
# is a series kept in every process for its lifetime, so a client choosing
# them (a made-up method, a status) could grow memory without bound.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# URL arguments that identify an invoice, in either face or the admin.
_INVOICE_KWARGS = ("invoice_id", "lago_id", "invoice_lotus_id")


def route_of(request) -> str:
    """The matched URL pattern (``api/v1/invoices/<str:invoice_id>``), never
    the raw path: a label per invoice id would make one series per invoice."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "<unmatched>"
    return match.route or match.view_name or "<unnamed>"


def scrubbed_path(request) -> str:
    """The path with every ``token`` argument replaced (signed download links)."""
    path = request.path
    match = getattr(request, "resolver_match", None)
    if match is not None:
        for name, value in match.kwargs.items():
            if "token" in name and isinstance(value, str) and value:
                path = path.replace(value, REDACTED)
    return path


def _user_fields(request) -> dict:
    """Organization of an API key, or the staff user of an admin session.

    A lazy user that nobody evaluated stays unevaluated: reading it here would
    cost a session query on requests that never needed one."""
    user = request.__dict__.get("user")
    if user is None:
        return {}
    if isinstance(user, SimpleLazyObject) and user._wrapped is empty:
        return {}
    # The id, not ``user.organization``: an API client reads its organization's
    # row only when a view needs it, and the log line must not add that query.
    organization_id = getattr(user, "organization_id", None)
    if organization_id is not None:
        return {"organization_id": str(organization_id)}
    if getattr(user, "is_authenticated", False) and getattr(user, "pk", None) is not None:
        return {"user_id": user.pk}
    return {}


class RequestObservabilityMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        given = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        route = route_of(request)
        method = request.method if request.method in _METHODS else "OTHER"
        status_class = f"{response.status_code // 100}xx"
        REQUEST_SECONDS.labels(method, route, status_class).observe(elapsed)
        response.setdefault("X-Request-ID", request_id)

        match = getattr(request, "resolver_match", None)
        if match is not None and match.url_name in _QUIET_ROUTES:
            level = logging.DEBUG
        elif response.status_code >= 500:
            level = logging.ERROR
        else:
            level = logging.INFO
        # The line's fields are built only if it is written (not at
        # LOG_LEVEL=WARNING): a fifth of this middleware's cost per request.
        if not logger.isEnabledFor(level):
            return response
        fields = {
            "request_id": request_id,
            "method": request.method,
            "route": route,
            "path": scrubbed_path(request),
            "status": response.status_code,
            "duration_ms": round(elapsed * 1000, 1),
            **_user_fields(request),
        }
        if match is not None:
            for name in _INVOICE_KWARGS:
                if match.kwargs.get(name):
                    fields["invoice_id"] = str(match.kwargs[name])
                    break
            admin_invoice = (match.url_name or "").startswith("invoicing_invoice_")
            if admin_invoice and match.kwargs.get("object_id"):
                fields["invoice_id"] = str(match.kwargs["object_id"])
        logger.log(level, "%s %s %s", request.method, fields["path"], response.status_code,
                   extra=fields)  # fmt: skip
        return response
