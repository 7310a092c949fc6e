"""Next-poll times and the adaptive interval: pure, table-driven."""

from __future__ import annotations

import random

import pytest

from monitor.core.schedule import (
    JITTER,
    RATE_TIME_CONSTANT,
    Adaptation,
    Timing,
    adapt,
    after_failure,
    after_success,
)

NOW = 1_000_000.0
TIMING = Timing(interval=600, min_interval=60, max_interval=3600)


def within_jitter(value: float, expected_delay: float) -> bool:
    """``value`` is NOW + the expected delay +- jitter, jitter cut at max_interval."""
    delay = value - NOW
    high = min(expected_delay * (1 + JITTER), TIMING.max_interval)
    return expected_delay * (1 - JITTER) <= delay <= high


@pytest.mark.parametrize(
    ("interval", "max_age", "ttl", "expected"),
    [
        (600, None, None, 600),
        (600, 1200, None, 1200),  # the server's cache lifetime is a floor
        (600, None, 1800, 1800),  # so is <ttl> / sy:updatePeriod
        (600, 30, 10, 600),  # hints shorter than the interval change nothing
        (600, 0, None, 600),  # no-cache: no floor
        (120, None, 1800, 1800),  # a hint also floors an interval adapted downwards
        (600, 99999, None, 3600),  # capped: never unpolled longer than max_interval
        (20, None, None, 60),  # raised to min_interval
    ],
)
def test_after_success(
    interval: float, max_age: float | None, ttl: float | None, expected: float
) -> None:
    rng = random.Random(1)
    at = after_success(NOW, interval, TIMING, rng, max_age=max_age, ttl=ttl)
    assert within_jitter(at, expected)


def test_jitter_never_pushes_past_max_interval() -> None:
    rng = random.Random(7)
    delays = [after_success(NOW, 3600, TIMING, rng) - NOW for _ in range(200)]
    assert max(delays) == TIMING.max_interval  # some were cut to the cap...
    assert min(delays) >= TIMING.max_interval * (1 - JITTER)  # ...none went beyond it


@pytest.mark.parametrize(
    ("interval", "errors", "expected"),
    [
        (600, 1, 600),
        (600, 2, 1200),
        (600, 3, 2400),
        (600, 4, 3600),
        (600, 50, 3600),
        (120, 3, 480),  # backs off from the interval in force, adapted or not
        (5, 1, 60),  # raised to min_interval
    ],
)
def test_after_failure_backs_off_exponentially_to_the_cap(
    interval: float, errors: int, expected: float
) -> None:
    assert within_jitter(after_failure(NOW, interval, TIMING, errors, random.Random(2)), expected)


@pytest.mark.parametrize(("retry_after", "expected"), [(120, 120), (0, 0), (10**6, 3600)])
def test_after_failure_waits_exactly_retry_after(retry_after: float, expected: float) -> None:
    at = after_failure(NOW, 600, TIMING, 1, random.Random(3), retry_after=retry_after)
    assert at == NOW + expected


def test_jitter_spreads_feeds_apart() -> None:
    rng = random.Random(5)
    times = {round(after_success(NOW, 600, TIMING, rng)) for _ in range(20)}
    assert len(times) > 10


LONG = 50 * RATE_TIME_CONSTANT  # observed long enough that the prior no longer counts


@pytest.mark.parametrize(
    ("current", "new_items", "since", "gap", "expected"),
    [
        # First success: everything is new, which says nothing about the rate.
        (Adaptation(600, None), 17, None, False, Adaptation(600, None)),
        # One item per interval: the prior (one per configured interval) is on target.
        (Adaptation(600, None), 1, 600, False, Adaptation(600, 1 / 600)),
        # Long observations set the rate: one item per 100 s -> poll every 100 s...
        (Adaptation(600, None), LONG / 100, LONG, False, Adaptation(100, 1 / 100)),
        # ...but not more often than min_interval, nor less often than max_interval.
        (Adaptation(600, None), LONG, LONG, False, Adaptation(60, 1.0)),
        (Adaptation(600, 1 / 600), 0, LONG, False, Adaptation(3600, 0.0)),
        # A minute of silence barely moves the estimate; a time constant of it divides the
        # rate by e.
        (Adaptation(600, 1 / 600), 0, 60, False, Adaptation(605.02, 1 / 605.02)),
        (Adaptation(600, 1 / 600), 0, RATE_TIME_CONSTANT, False, Adaptation(1630.97, 1 / 1630.97)),
        # Every item new (the window may have overflowed): twice as soon, even when the
        # rate alone would barely move...
        (Adaptation(600, 1 / 600), 2, 600, True, Adaptation(300, 1 / 555.6)),
        # ...and never below min_interval.
        (Adaptation(100, 1 / 100), 2, 100, True, Adaptation(60, 1 / 98.64)),
    ],
)
def test_adapt(
    current: Adaptation, new_items: int, since: float | None, gap: bool, expected: Adaptation
) -> None:
    got = adapt(TIMING, current, new_items=new_items, since_last_success=since, possible_gap=gap)
    assert got.interval == pytest.approx(expected.interval, rel=1e-3)
    if expected.item_rate is None:
        assert got.item_rate is None
    else:
        assert got.item_rate == pytest.approx(expected.item_rate, rel=1e-3, abs=1e-9)


def test_adapt_converges_to_the_feed_rate_within_bounds() -> None:
    """A feed publishing every 150 s, polled at the adapted interval, settles near 150 s."""
    state, now = Adaptation(600, None), 0.0
    for _ in range(300):
        published_before = now // 150
        now += state.interval
        state = adapt(
            TIMING,
            state,
            new_items=int(now // 150 - published_before),
            since_last_success=state.interval,
            possible_gap=False,
        )
    assert 135 <= state.interval <= 165
