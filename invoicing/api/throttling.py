"""Request rates per API key and per organization, for both faces.

Fixed one-period windows counted in Redis when the service has one (the
limits then hold across every web process), else in each process's memory
(the one-machine demo). Both windows of a request cost one Redis round trip
(a pipeline of SET NX and INCR): DRF's own SimpleRateThrottle keeps a list of
timestamps per client and reads and writes it whole on every request, which
at these rates cost about a millisecond a request. A fixed window lets a
client use up to twice its rate across a window boundary; the limits are
there so that no tenant takes the web tier from the others, not to meter.

A refused request is answered by each face in its own format
(``api/lago/errors.py``, ``api/lotus/errors.py``); the Lago face also sends
the ``x-ratelimit-*`` headers lago-python-client reads into
``LagoRateLimitError`` and its rate-limit callback, on every answer.

The limits are settings (``API_RATE_LIMIT_PER_KEY``,
``API_RATE_LIMIT_PER_ORGANIZATION``, DRF's ``N/s``, ``N/min``...).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from redis.exceptions import RedisError
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from invoicing.api.auth import ApiClient
from invoicing.quick_redis import quick_redis

logger = logging.getLogger("invoicing.api")

# (scope, the client's identity in that scope): a key's own window, and its
# organization's, which all its keys share (several keys buy no more).
_SCOPES = (
    ("api_key", lambda client: client.api_key_id),
    ("organization", lambda client: client.organization_id),
)


@dataclass(frozen=True)
class RateLimit:
    """The tightest window of a request: what the x-ratelimit-* headers say."""

    limit: int
    remaining: int
    reset_s: int  # seconds until the window starts again


def rate_limit_of(request) -> RateLimit | None:
    return getattr(request, "_rate_limit", None)


_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _parse_rate(rate: str) -> tuple[int, int]:
    """DRF's rate notation: "6000/min" -> (6000, 60)."""
    count, period = rate.split("/")
    return int(count), _PERIODS[period[0]]


_local_lock = threading.Lock()
_local: dict[str, tuple[int, float]] = {}


def _count_local(windows: list[tuple[str, int]], now: float) -> list[int]:
    with _local_lock:
        if len(_local) > 10_000:
            for key in [k for k, (_, ends) in _local.items() if ends <= now]:
                del _local[key]
        counts = []
        for key, period in windows:
            count, ends = _local.get(key, (0, now + period))
            _local[key] = (count + 1, ends)
            counts.append(count + 1)
        return counts


def _count_redis(url: str, windows: list[tuple[str, int]]) -> list[int]:
    # A slow Redis must not become a slow API (see allow_request).
    pipe = quick_redis(url).pipeline(transaction=False)
    for key, period in windows:
        # The first request of a window creates its counter with an expiry.
        pipe.set(key, 0, ex=period + 1, nx=True)
        pipe.incr(key)
    results = pipe.execute()
    return [int(n) for n in results[1::2]]


class ApiRateThrottle(BaseThrottle):
    def __init__(self) -> None:
        # Seconds until the refused window starts again (DRF's Retry-After).
        self._wait: int | None = None

    def allow_request(self, request, view) -> bool:
        client = request.user
        if not isinstance(client, ApiClient):
            return True  # refused by authentication before any work
        now = time.time()
        checks = []
        for scope, ident in _SCOPES:
            rate = api_settings.DEFAULT_THROTTLE_RATES.get(scope)
            if not rate:
                continue
            limit, period = _parse_rate(rate)
            window = int(now // period)
            checks.append((f"ratelimit:{scope}:{ident(client)}:{window}", period, limit))
        if not checks:
            return True
        windows = [(key, period) for key, period, _ in checks]
        try:
            url = settings.REDIS_URL
            counts = _count_redis(url, windows) if url else _count_local(windows, now)
        except RedisError:
            # While Redis is away, serve rather than fail every request (the
            # broker's own outage is reported by /readyz).
            logger.warning("rate limits unavailable (Redis error); request allowed")
            return True
        tightest = None
        for (_, period, limit), count in zip(checks, counts, strict=True):
            reset = max(1, math.ceil(period - now % period))
            state = RateLimit(limit, max(limit - count, 0), reset)
            if count > limit:
                state = RateLimit(limit, 0, reset)
            if tightest is None or (state.remaining, -state.reset_s) < (
                tightest.remaining,
                -tightest.reset_s,
            ):
                tightest = state
            if count > limit:
                self._wait = max(self._wait or 0, reset)
        request._rate_limit = tightest
        return self._wait is None

    def wait(self) -> float | None:
        return self._wait
