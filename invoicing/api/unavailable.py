"""Database outages, seen from the API: a restarting or failing-over
PostgreSQL, a connection the server dropped, a query cancelled for running
too long. The request's transaction was rolled back, so nothing was written;
the client should send it again shortly. Both faces answer 503 with a
``Retry-After`` in their own error format instead of a 500."""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError
from rest_framework import exceptions

logger = logging.getLogger("invoicing.api")

RETRY_AFTER_SECONDS = 2


def is_database_unavailable(exc: Exception) -> bool:
    """Whether ``exc`` is a database outage (logged once here, as a warning:
    the request is answered, not crashed)."""
    if isinstance(exc, (OperationalError, InterfaceError)):
        logger.warning("database unavailable: %s", str(exc).strip().splitlines()[0][:200])
        return True
    return False


def retry_after(exc: Exception) -> str | None:
    """The ``Retry-After`` header both faces send with the error for ``exc``:
    throttled requests wait as DRF says, outages a fixed short while."""
    if isinstance(exc, exceptions.Throttled) and exc.wait:
        return str(int(exc.wait))
    if isinstance(exc, (OperationalError, InterfaceError)):
        return str(RETRY_AFTER_SECONDS)
    return None
