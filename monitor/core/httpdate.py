"""HTTP dates (RFC 9110 5.6.7) and Retry-After, read one way for fetching and delivering."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

_DELAY_SECONDS = re.compile(r"[0-9]+")  # ASCII digits only: "١٢٠" is no delay


def parse_http_date(value: str) -> datetime | None:
    """An HTTP-date (or its obsolete RFC 850 / asctime forms) in UTC; None if unreadable.

    A date without a zone (asctime) is taken as UTC, as HTTP dates always are.
    """
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return _utc(when)


def parse_retry_after(
    value: str | None, now: datetime, *, cap: float | None = None
) -> float | None:
    """A Retry-After header in seconds from ``now``: delay-seconds or an HTTP-date.

    A date in the past gives 0; anything unreadable gives None. ``cap`` bounds the result
    where the caller wants one absurd value cut here (the fetcher); delivery caps later,
    in its own retry schedule, and passes None.
    """
    if value is None:
        return None
    text = value.strip()
    if _DELAY_SECONDS.fullmatch(text):
        seconds = float(text)
    else:
        when = parse_http_date(text)
        if when is None:
            return None
        seconds = max((when - _utc(now)).total_seconds(), 0.0)
    return seconds if cap is None else min(seconds, cap)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
