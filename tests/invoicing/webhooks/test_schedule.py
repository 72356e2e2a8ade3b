from __future__ import annotations

import random

import pytest

from invoicing.webhooks.schedule import (
    DEFAULT_SCHEDULE_S,
    JITTER,
    MAX_RETRY_AFTER_S,
    next_delay,
    parse_schedule,
)


def test_the_default_schedule_is_the_one_production_uses() -> None:
    from django.conf import settings

    assert settings.WEBHOOK_RETRY_SCHEDULE == DEFAULT_SCHEDULE_S
    # Svix's (immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h) and four more 10 h:
    # 12 attempts over 67 h 35 min 5 s (~2.8 days).
    assert DEFAULT_SCHEDULE_S == (0, 5, 300, 1800, 7200, 18000, *(36000,) * 6)
    assert sum(DEFAULT_SCHEDULE_S) == 67 * 3600 + 35 * 60 + 5


def test_total_span_with_jitter_stays_within_20_percent() -> None:
    rng = random.Random(1)
    nominal = sum(DEFAULT_SCHEDULE_S)
    for _ in range(200):
        total = 0.0
        attempts = 0
        while (delay := next_delay(attempts, rng=rng)) is not None:
            total += delay
            attempts += 1
        assert attempts == len(DEFAULT_SCHEDULE_S)
        assert nominal * (1 - JITTER) <= total <= nominal * (1 + JITTER)


def test_first_attempt_is_immediate_and_never_jittered() -> None:
    assert next_delay(0, rng=random.Random(3)) == 0
    assert next_delay(0, schedule=(0, 10), retry_after_s=None) == 0


def test_jitter_bounds_and_spread() -> None:
    rng = random.Random(42)
    for attempts_made, nominal in enumerate(DEFAULT_SCHEDULE_S):
        if nominal == 0:
            continue
        draws = [next_delay(attempts_made, rng=rng) for _ in range(500)]
        assert all(nominal * 0.8 <= d <= nominal * 1.2 for d in draws)
        # Jitter really spreads: both ends of the band are used.
        assert min(draws) < nominal * 0.85
        assert max(draws) > nominal * 1.15


def test_exhaustion_returns_none() -> None:
    assert next_delay(len(DEFAULT_SCHEDULE_S) - 1) is not None
    assert next_delay(len(DEFAULT_SCHEDULE_S)) is None
    assert next_delay(100) is None
    assert next_delay(3, schedule=(0, 5, 10)) is None
    # A Retry-After never adds attempts.
    assert next_delay(len(DEFAULT_SCHEDULE_S), retry_after_s=60) is None
    with pytest.raises(ValueError):
        next_delay(-1)


def test_retry_after_is_a_floor_with_only_upward_jitter() -> None:
    rng = random.Random(7)
    for _ in range(200):
        # Larger than the schedule's 5 s: honoured, never earlier than asked.
        delay = next_delay(1, retry_after_s=600, rng=rng)
        assert 600 <= delay <= 720
        # Smaller than the schedule's 30 min: the schedule wins.
        delay = next_delay(3, retry_after_s=1, rng=rng)
        assert 1800 * 0.8 <= delay <= 1800 * 1.2


def test_retry_after_is_capped() -> None:
    rng = random.Random(9)
    assert next_delay(1, retry_after_s=10 * 365 * 86400, rng=rng) == MAX_RETRY_AFTER_S
    assert next_delay(1, retry_after_s=MAX_RETRY_AFTER_S * 0.99, rng=rng) <= MAX_RETRY_AFTER_S
    assert next_delay(1, retry_after_s=0, rng=random.Random(1)) == next_delay(
        1, rng=random.Random(1)
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0,5,300,1800,7200,18000,36000,36000,36000,36000,36000,36000", DEFAULT_SCHEDULE_S),
        ("0, 5s, 5m, 30m, 2h, 5h, 10h, 10h, 10h, 10h, 10h, 10h", DEFAULT_SCHEDULE_S),
        ("1.5,1d", (1.5, 86400)),
        ("0", (0,)),
    ],
)
def test_parse_schedule(text: str, expected: tuple[float, ...]) -> None:
    assert parse_schedule(text) == tuple(float(x) for x in expected)


@pytest.mark.parametrize("text", ["", " ", "0,,5", "0,-5", "five", "5w", "0,5,"])
def test_parse_schedule_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_schedule(text)
