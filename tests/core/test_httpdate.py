"""HTTP dates and Retry-After: one parser, capped by the fetcher, uncapped for delivery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from monitor.core.httpdate import parse_http_date, parse_retry_after
from monitor.fetch.fetcher import RETRY_AFTER_MAX

NOW = datetime(2024, 10, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("0", 0.0),
        ("120", 120.0),
        (" 30 ", 30.0),
        ("99999999", 6 * 3600.0),
        ("-5", None),
        ("1.5", None),
        ("Tue, 01 Oct 2024 12:10:00 GMT", 600.0),
        ("Tue, 01 Oct 2024 11:00:00 GMT", 0.0),
        ("Tue, 08 Oct 2024 12:00:00 GMT", 6 * 3600.0),
        ("tomorrow", None),
    ],
)
def test_parse_retry_after_as_the_fetcher_caps_it(
    value: str | None, expected: float | None
) -> None:
    assert RETRY_AFTER_MAX == 6 * 3600.0
    assert parse_retry_after(value, NOW, cap=RETRY_AFTER_MAX) == expected


@pytest.mark.parametrize(
    ("value", "uncapped", "capped"),
    [
        ("99999999", 99999999.0, 6 * 3600.0),
        # Any number of digits is delay-seconds (the fetcher's own parser took at most 10,
        # and ignored longer ones; capped, they now wait the cap, as shorter absurd ones do).
        ("99999999999", 99999999999.0, 6 * 3600.0),
        ("Tue, 08 Oct 2024 12:00:00 GMT", 7 * 86400.0, 6 * 3600.0),
        ("120", 120.0, 120.0),
        ("Tue, 01 Oct 2024 11:00:00 GMT", 0.0, 0.0),
    ],
)
def test_the_cap_is_the_only_difference(value: str, uncapped: float, capped: float) -> None:
    assert parse_retry_after(value, NOW) == uncapped
    assert parse_retry_after(value, NOW, cap=6 * 3600.0) == capped


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Tue, 01 Oct 2024 12:00:00 GMT", NOW),
        ("Tuesday, 01-Oct-24 12:00:00 GMT", NOW),  # obsolete RFC 850 form
        ("Tue Oct  1 12:00:00 2024", NOW),  # obsolete asctime form: no zone, taken as UTC
        ("Tue, 01 Oct 2024 14:00:00 +0200", NOW),
        ("0", None),
        ("", None),
        ("Tue, 99 Oct 2024 12:00:00 GMT", None),
    ],
)
def test_parse_http_date_in_utc(value: str, expected: datetime | None) -> None:
    parsed = parse_http_date(value)
    assert parsed == expected
    assert parsed is None or parsed.tzinfo == UTC


def test_now_may_be_in_any_zone_or_naive() -> None:
    tokyo = NOW.astimezone(timezone(timedelta(hours=9)))
    date = "Tue, 01 Oct 2024 12:05:00 GMT"
    assert parse_retry_after(date, tokyo) == 300.0
    assert parse_retry_after(date, NOW.replace(tzinfo=None)) == 300.0
