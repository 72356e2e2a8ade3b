"""The Redis client of the request path's small Redis calls (the rate limits,
the wake-up marks): one per URL and process, with short timeouts, so that a
slow Redis is given up on within half a second rather than waited on (each
caller says what it does then)."""

from __future__ import annotations

import functools


@functools.lru_cache(maxsize=4)
def quick_redis(url: str):
    import redis

    return redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
