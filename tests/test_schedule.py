"""Next-poll times: pure, table-driven."""

from __future__ import annotations

import random

import pytest

from monitor.schedule import JITTER, Timing, after_failure, after_success

NOW = 1_000_000.0
TIMING = Timing(interval=600, min_interval=60, max_interval=3600)


def within_jitter(value: float, expected_delay: float) -> bool:
    delay = value - NOW
    return expected_delay * (1 - JITTER) <= delay <= expected_delay * (1 + JITTER)


@pytest.mark.parametrize(
    ("max_age", "ttl", "expected"),
    [
        (None, None, 600),
        (1200, None, 1200),  # the server's cache lifetime is a floor
        (None, 1800, 1800),  # so is <ttl>
        (30, 10, 600),  # hints shorter than the interval change nothing
        (99999, None, 3600),  # capped: never unpolled longer than max_interval
    ],
)
def test_after_success(max_age: float | None, ttl: float | None, expected: float) -> None:
    rng = random.Random(1)
    assert within_jitter(after_success(NOW, TIMING, rng, max_age=max_age, ttl=ttl), expected)


@pytest.mark.parametrize(
    ("errors", "expected"),
    [(1, 600), (2, 1200), (3, 2400), (4, 3600), (50, 3600)],
)
def test_after_failure_backs_off_exponentially_to_the_cap(errors: int, expected: float) -> None:
    assert within_jitter(after_failure(NOW, TIMING, errors, random.Random(2)), expected)


@pytest.mark.parametrize(("retry_after", "expected"), [(120, 120), (0, 0), (10**6, 3600)])
def test_after_failure_waits_exactly_retry_after(retry_after: float, expected: float) -> None:
    assert (
        after_failure(NOW, TIMING, 1, random.Random(3), retry_after=retry_after) == NOW + expected
    )


def test_short_intervals_are_raised_to_min_interval() -> None:
    timing = Timing(interval=5, min_interval=60, max_interval=3600)
    assert within_jitter(after_success(NOW, timing, random.Random(4)), 60)
    assert within_jitter(after_failure(NOW, timing, 1, random.Random(4)), 60)


def test_jitter_spreads_feeds_apart() -> None:
    rng = random.Random(5)
    times = {round(after_success(NOW, TIMING, rng)) for _ in range(20)}
    assert len(times) > 10
