"""Request rates per API key and per organization, for both faces.

DRF's sliding-window throttles over the Django cache: Redis when the service
has one (the limits then hold across every web process), else each process's
memory (the one-machine demo). A refused request is answered by each face in
its own format (``api/lago/errors.py``, ``api/lotus/errors.py``); the Lago
face also sends the ``x-ratelimit-*`` headers lago-python-client reads into
``LagoRateLimitError`` and its rate-limit callback, on every answer.

The limits are settings (``API_RATE_LIMIT_PER_KEY``,
``API_RATE_LIMIT_PER_ORGANIZATION``), generous by default: they are there so
that one tenant cannot take the web tier from the others, not to meter use.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from redis.exceptions import RedisError
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from invoicing.api.auth import ApiClient

logger = logging.getLogger("invoicing.api")


@dataclass(frozen=True)
class RateLimit:
    """The tightest window of a request: what the x-ratelimit-* headers say."""

    limit: int
    remaining: int
    reset_s: int  # seconds until a request is allowed again / the window frees one


def rate_limit_of(request) -> RateLimit | None:
    return getattr(request, "_rate_limit", None)


class _ClientThrottle(SimpleRateThrottle):
    """One window per client identity; unauthenticated requests are not
    counted here (they fail authentication before any work)."""

    def ident_of(self, client: ApiClient) -> str:
        raise NotImplementedError

    def get_rate(self):
        # Read at each request (DRF binds the rates at import): settings and
        # tests may change them.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view):
        client = request.user
        if not isinstance(client, ApiClient):
            return None
        return f"throttle:{self.scope}:{self.ident_of(client)}"

    def allow_request(self, request, view):
        try:
            allowed = super().allow_request(request, view)
        except RedisError:
            # The windows live in Redis: while it is away, serve rather than
            # fail every request (the broker's own outage is reported by /readyz).
            logger.warning("rate limits unavailable (cache error); request allowed")
            return True
        if self.rate is None or self.key is None:
            return allowed
        used = len(self.history)
        if self.history:
            oldest_ends = self.history[-1] + self.duration - self.now
            reset = max(1, math.ceil(oldest_ends))
        else:
            reset = self.duration
        current = RateLimit(self.num_requests, max(self.num_requests - used, 0), reset)
        previous = rate_limit_of(request)
        if previous is None or current.remaining < previous.remaining:
            request._rate_limit = current
        return allowed


class ApiKeyRateThrottle(_ClientThrottle):
    scope = "api_key"

    def ident_of(self, client: ApiClient) -> str:
        return str(client.api_key_id)


class OrganizationRateThrottle(_ClientThrottle):
    """All of an organization's keys together: several keys do not buy a
    tenant more of the web tier."""

    scope = "organization"

    def ident_of(self, client: ApiClient) -> str:
        return str(client.organization_id)
