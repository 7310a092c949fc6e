from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from monitor.core.httpdate import parse_retry_after
from monitor.core.retry import DEFAULT_SCHEDULE, classify, next_delay

DAY = 24 * 3600.0


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, "delivered"),
        (201, "delivered"),
        (204, "delivered"),
        (299, "delivered"),
        (301, "retry"),
        (302, "retry"),
        (308, "retry"),
        (400, "retry"),
        (401, "retry"),
        (404, "retry"),
        (410, "disable"),
        (413, "retry"),
        (429, "retry"),
        (500, "retry"),
        (502, "retry"),
        (503, "retry"),
        (None, "retry"),
    ],
)
def test_classify(status: int | None, verdict: str) -> None:
    assert classify(status) == verdict


def test_default_schedule_is_the_documented_one() -> None:
    hour = 3600
    assert list(DEFAULT_SCHEDULE) == [
        0,
        5,
        5 * 60,
        30 * 60,
        2 * hour,
        5 * hour,
        10 * hour,
        10 * hour,
    ]


@pytest.mark.parametrize("attempts_made", range(len(DEFAULT_SCHEDULE)))
def test_next_delay_jitter_stays_within_bounds(attempts_made: int) -> None:
    base = DEFAULT_SCHEDULE[attempts_made]
    rng = random.Random(attempts_made)
    delays = [
        next_delay(attempts_made, DEFAULT_SCHEDULE, retry_after=None, rng=rng) for _ in range(200)
    ]
    for delay in delays:
        assert delay is not None
        assert 0.85 * base <= delay <= 1.15 * base
    if base:
        assert len(set(delays)) > 1  # it is jittered, not constant


@pytest.mark.parametrize(
    ("attempts_made", "schedule"),
    [(8, DEFAULT_SCHEDULE), (9, DEFAULT_SCHEDULE), (0, ()), (2, (1.0, 2.0))],
)
def test_next_delay_exhausted_schedule_means_dead_letter(
    attempts_made: int, schedule: tuple[float, ...]
) -> None:
    rng = random.Random(0)
    assert next_delay(attempts_made, schedule, retry_after=None, rng=rng) is None
    assert next_delay(attempts_made, schedule, retry_after=60.0, rng=rng) is None


@pytest.mark.parametrize(
    ("attempts_made", "retry_after", "low", "high"),
    [
        (1, 120.0, 120.0, 120.0),  # 5 s scheduled, the consumer asks for 2 min: floor wins
        (4, 60.0, 0.85 * 7200, 1.15 * 7200),  # 2 h scheduled beats a 1 min floor
        (1, 10 * DAY, DAY, DAY),  # capped at a day
        (1, float("inf"), DAY, DAY),
        (1, -5.0, 0.85 * 5, 1.15 * 5),  # nonsense floor is ignored
        (0, 0.0, 0.0, 0.0),
    ],
)
def test_next_delay_retry_after_is_a_capped_floor(
    attempts_made: int, retry_after: float, low: float, high: float
) -> None:
    delay = next_delay(
        attempts_made, DEFAULT_SCHEDULE, retry_after=retry_after, rng=random.Random(3)
    )
    assert delay is not None
    assert low <= delay <= high


def test_next_delay_is_reproducible_with_a_seeded_rng() -> None:
    first = [next_delay(3, DEFAULT_SCHEDULE, retry_after=None, rng=random.Random(42)) for _ in "ab"]
    assert first[0] == first[1]


def test_next_delay_rejects_negative_attempts() -> None:
    with pytest.raises(ValueError, match="attempts_made"):
        next_delay(-1, DEFAULT_SCHEDULE, retry_after=None, rng=random.Random(0))


NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Wed, 01 May 2024 12:05:00 GMT", 300.0),
        ("Wednesday, 01-May-24 12:00:30 GMT", 30.0),  # obsolete RFC 850 form
        ("Wed May  1 12:01:00 2024", 60.0),  # obsolete asctime form, taken as UTC
        ("Wed, 01 May 2024 11:00:00 GMT", 0.0),  # in the past
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
        ("1.5", None),
        ("١٢٠", None),  # non-ASCII digits are not delay-seconds
        ("Wed, 99 May 2024 12:05:00 GMT", None),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, NOW) == expected


def test_parse_retry_after_uses_now_in_any_zone() -> None:
    tokyo_now = NOW.astimezone(timezone(timedelta(hours=9)))
    assert parse_retry_after("Wed, 01 May 2024 12:05:00 GMT", tokyo_now) == 300.0
