"""Retry policy for webhook deliveries: when the next attempt is due, if there is one.

The caller stores ``now + next_delay(...)`` in the delivery's ``next_attempt_at`` column and a
periodic sweep picks due rows; nothing here waits or touches the database.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

# The production schedule (WEBHOOK_RETRY_SCHEDULE's default): Svix's (immediately, 5 s, 5 min,
# 30 min, 2 h, 5 h, 10 h, 10 h) with four more 10 h steps. Entry i is the delay before attempt
# i + 1: 12 attempts over 67.6 h (~2.8 days) before jitter and Retry-After stretch it, so a
# receiver may be down for close to three days without losing an event (Svix alone: 27.6 h;
# Lago's own 3 attempts within ~21 s miss any outage longer than a deploy).
DEFAULT_SCHEDULE_S: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, *(36000,) * 6)

# +/-20 %: when a receiver is down, every delivery to it fails at nearly the same moment;
# without jitter they would all retry in lockstep and hit the receiver in one burst just as
# it recovers (and our workers in one burst too). Spreading them out smooths both.
JITTER = 0.2

# A receiver may ask for a longer pause (429/503 Retry-After) but not park a delivery
# indefinitely: a day is long enough for any sane rate limit, and the attempt count still
# bounds the total.
MAX_RETRY_AFTER_S = 86_400.0

_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_ENTRY_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd]?)$")


def parse_schedule(value: str) -> tuple[float, ...]:
    """Parse ``"0,5,300,1800"`` (seconds) or ``"0, 5s, 5m, 30m, 2h, 5h, 10h, 10h"``."""
    entries = [part.strip().lower() for part in value.split(",")]
    if not value.strip() or any(not part for part in entries):
        raise ValueError(f"invalid retry schedule {value!r}: empty entry")
    delays = []
    for part in entries:
        match = _ENTRY_RE.match(part)
        if match is None:
            raise ValueError(f"invalid retry schedule entry {part!r}")
        delays.append(float(match.group(1)) * _UNITS[match.group(2)])
    return tuple(delays)


def next_delay(
    attempts_made: int,
    *,
    schedule: Sequence[float] = DEFAULT_SCHEDULE_S,
    retry_after_s: float | None = None,
    rng: random.Random | None = None,
) -> float | None:
    """Seconds from now until the next attempt, or None when no attempt is left.

    ``attempts_made`` counts attempts already made (0 before the first one), so
    ``len(schedule)`` attempts are made in all.

    Retry-After policy: the receiver's wish is honoured as a floor, never as a way to come
    back sooner than the schedule (a misbehaving ``Retry-After: 0`` must not turn the
    schedule into a tight loop), and capped at ``MAX_RETRY_AFTER_S``. It gets 0..+20 %
    jitter, never negative, so rate-limited deliveries to one receiver do not all return at
    the same second but none comes back before the receiver asked. A Retry-After never adds
    attempts: it only moves the next one.
    """
    if attempts_made < 0:
        raise ValueError("attempts_made cannot be negative")
    if attempts_made >= len(schedule):
        return None
    generator = rng if rng is not None else random
    delay = float(schedule[attempts_made])
    if delay > 0:
        delay *= generator.uniform(1 - JITTER, 1 + JITTER)
    if retry_after_s is not None and retry_after_s > 0:
        wished = min(retry_after_s, MAX_RETRY_AFTER_S)
        wished = min(wished * generator.uniform(1.0, 1 + JITTER), MAX_RETRY_AFTER_S)
        delay = max(delay, wished)
    return delay
