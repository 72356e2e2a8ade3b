"""Request rates per API key and per organization, for both faces.

Fixed one-period windows counted in Redis when the service has one (the
limits then hold across every web process), else in each process's memory
(the one-machine demo). DRF's own SimpleRateThrottle keeps a list of
timestamps per client and reads and writes it whole on every request, which
at these rates cost about a millisecond a request. A fixed window lets a
client use up to twice its rate across a window boundary; the limits are
there so that no tenant takes the web tier from the others, not to meter.

Each request of a window has a position in it, the window's counter in
Redis: it is served if its position is within the limit, so no window ever
serves more than its limit. A process does not ask Redis for every position:
it takes a block of them at once (a lease: INCRBY, one round trip for both
windows of a request) and hands them out itself until the block is used up.
The round trip per request was an eighth of a stored PDF's download under
load (bench/load.py: 84 against 96 % of the reference without it). Blocks
are at most ``LEASE_MAX`` positions, and small near the limit (the
remaining positions over ``LEASE_SPREAD``, at least one): positions a process
took and did not use before the window ended are lost to the others, so a
client may be refused up to about (processes - 1) x ``LEASE_MAX`` requests
before its limit (out of 6,000 a minute by default, with 4 web processes:
under 2 %); a limit under ``LEASE_SPREAD`` requests a window is counted one
request at a time, exactly. Past the limit blocks are whole again: refusals
then cost no round trip. ``x-ratelimit-remaining`` is the limit less the
request's position, so across processes it need not fall by one each time.

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


# Lease sizes (see the module's docstring).
LEASE_MAX = 32
LEASE_SPREAD = 64


def _lease_size(limit: int, seen: int) -> int:
    """How many positions to take at once from a window whose counter was at
    ``seen`` when this process last looked (0: not yet)."""
    if seen >= limit:
        return LEASE_MAX
    return max(1, min(LEASE_MAX, (limit - seen) // LEASE_SPREAD))


@dataclass
class _Lease:
    next: int  # the next position this process hands out
    last: int  # the block's last position: the window's counter when taken
    ends: float  # when the window ends (the clock's seconds)


class Leases:
    """One process's blocks of window positions, taken from Redis at ``url``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # By Redis URL and window key: a process pointed at another Redis
        # (a settings change in tests) does not hand out the first one's.
        self._held: dict[tuple[str, str], _Lease] = {}

    def positions(self, url: str, checks: list[tuple[str, int, int]], now: float) -> list[int]:
        """Each window's position for one request at ``now``. ``checks``: (the
        window's key, its period, its limit)."""
        positions: list[int] = [0] * len(checks)
        wanted = []
        with self._lock:
            for index, (key, period, limit) in enumerate(checks):
                lease = self._held.get((url, key))
                if lease is not None and lease.next <= lease.last:
                    positions[index] = lease.next
                    lease.next += 1
                else:
                    size = _lease_size(limit, lease.last if lease is not None else 0)
                    wanted.append((index, key, period, (now // period + 1) * period, size))
        if not wanted:
            return positions
        # A slow Redis must not become a slow API (see allow_request).
        pipe = quick_redis(url).pipeline(transaction=False)
        for _, key, period, _, size in wanted:
            # The first lease of a window creates its counter with an expiry.
            pipe.set(key, 0, ex=period + 1, nx=True)
            pipe.incrby(key, size)
        counters = pipe.execute()[1::2]
        with self._lock:
            self._forget_ended(now)
            for (index, key, _, ends, size), counter in zip(wanted, counters, strict=True):
                last = int(counter)
                positions[index] = last - size + 1
                self._held[(url, key)] = _Lease(last - size + 2, last, ends)
        return positions

    def _forget_ended(self, now: float) -> None:
        # Windows are keyed by their number: an ended one is never asked for again.
        if len(self._held) > 10_000:
            for key in [k for k, lease in self._held.items() if lease.ends <= now]:
                del self._held[key]


_leases = Leases()


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
        try:
            url = settings.REDIS_URL
            if url:
                counts = _leases.positions(url, checks, now)
            else:
                counts = _count_local([(key, period) for key, period, _ in checks], now)
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
