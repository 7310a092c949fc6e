"""The poll decision, as tables: stored state + fetch result + findings -> the feed's update.

No sockets, no clocks: ``now`` is a number and the random source sits at the middle of
every jitter range, so next-poll times are exact.
"""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from monitor.core.polling import (
    PERMANENT_REDIRECT_POLLS,
    BodyRead,
    NothingToRead,
    PollDecision,
    PollFailed,
    PollFinding,
    body_digest,
    decide_poll,
    digest_to_read,
    follow_redirect,
)
from monitor.core.schedule import GAP_SPEEDUP, Timing
from monitor.models import FeedState, FetchResult

NOW = 1_750_000_000.0
TIMING = Timing(interval=600, min_interval=60, max_interval=3600)
URL = "https://news.test/feed"
MOVED = "https://news.test/moved"


class Midpoint(random.Random):
    """No jitter: every draw is the middle of its range."""

    def uniform(self, a: float, b: float) -> float:
        return (a + b) / 2


STATE = FeedState(
    url=URL,
    name="wire",
    fetch_url=URL,
    active=True,
    status="ok",
    etag='"old"',
    last_modified="Mon, 30 Sep 2024 10:00:00 GMT",
    interval=600,
    next_poll_at=NOW,
    last_polled_at=NOW - 600,
    last_success_at=NOW - 600,
    last_error=None,
    last_error_kind=None,
    error_count=0,
    items_seen=5,
    redirect_target=None,
    redirect_count=0,
    current_interval=600,
    item_rate=None,
    possible_gaps=0,
    body_digest="d-old",
    ttl=1800.0,
)
OK = FetchResult("ok", URL, 200, b"<rss/>", etag='"new"', last_modified="Tue, 01 Oct 2024")
NOT_MODIFIED = FetchResult("not_modified", URL, 304, etag='"new"')


def decide(state: FeedState, result: FetchResult, found: PollFinding) -> PollDecision:
    return decide_poll(TIMING, state, result, found, now=NOW, rng=Midpoint())


@pytest.mark.parametrize(
    ("result", "found", "reported", "validators", "digest", "ttl"),
    [
        # A new body read: its validators, digest and ttl (none) are stored.
        (OK, BodyRead("d-new", 2, 1, None), "ok", ('"new"', "Tue, 01 Oct 2024"), "d-new", None),
        (OK, BodyRead("d-new", 2, 1, 30), "ok", ('"new"', "Tue, 01 Oct 2024"), "d-new", 30.0),
        # 304: nothing read; the stored validators, digest and ttl hold.
        (
            NOT_MODIFIED,
            NothingToRead(),
            "not_modified",
            ('"old"', "Mon, 30 Sep 2024 10:00:00 GMT"),
            "d-old",
            1800.0,
        ),
        # The body read last time: the response's validators, the stored digest and ttl.
        (OK, NothingToRead(), "unchanged", ('"new"', "Tue, 01 Oct 2024"), "d-old", 1800.0),
    ],
)
def test_success(
    result: FetchResult,
    found: PollFinding,
    reported: str,
    validators: tuple[str, str],
    digest: str,
    ttl: float | None,
) -> None:
    failing = replace(STATE, status="backoff", error_count=3, last_error="x")
    decision = decide(failing, result, found)
    update = decision.update
    assert decision.result == reported
    assert (update.status, update.success, update.error_count) == ("ok", True, 0)
    assert (update.etag, update.last_modified) == validators
    assert (update.body_digest, update.ttl) == (digest, ttl)
    assert (update.last_error, update.last_error_kind) == (None, None)
    assert update.polled_at == NOW


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("gone", "disabled"),
        ("refused", "refused"),
        ("http_404", "backoff"),
        ("http_5xx", "backoff"),
        ("rate_limited", "backoff"),
        ("timeout", "backoff"),
        ("network", "backoff"),
        ("too_large", "backoff"),
        ("parse", "backoff"),
        ("internal", "backoff"),
    ],
)
def test_each_failure_kind(kind: str, status: str) -> None:
    state = replace(STATE, error_count=2, redirect_target=MOVED, redirect_count=1, item_rate=0.01)
    failed = FetchResult("error", URL, error_kind=kind, error=f"{kind} happened")
    decision = decide(state, failed, PollFailed(kind))
    update = decision.update
    assert decision.result == "error"
    assert (update.status, update.success, update.error_count) == (status, False, 3)
    assert (update.last_error, update.last_error_kind) == (f"{kind} happened", kind)
    # What the failure does not speak about is kept.
    assert (update.redirect_target, update.redirect_count) == (MOVED, 1)
    assert (update.interval, update.item_rate) == (600, 0.01)
    # Validators, digest and ttl are written on success only.
    assert (update.etag, update.last_modified, update.body_digest, update.ttl) == (None,) * 4
    assert update.next_poll_at == NOW + 2400  # the third failure in a row: 600 * 2**2


@pytest.mark.parametrize(
    ("errors_before", "delay"),
    [(0, 600), (1, 1200), (2, 2400), (3, 3600), (7, 3600), (50, 3600)],
)
def test_backoff_grows_exponentially_up_to_max_interval(errors_before: int, delay: float) -> None:
    state = replace(STATE, error_count=errors_before)
    failed = FetchResult("error", URL, error_kind="http_5xx", error="HTTP 500")
    update = decide(state, failed, PollFailed("http_5xx")).update
    assert update.next_poll_at == NOW + delay


@pytest.mark.parametrize(("retry_after", "delay"), [(120.0, 120), (0.0, 0), (86400.0, 3600)])
def test_retry_after_is_obeyed_exactly_up_to_max_interval(retry_after: float, delay: float) -> None:
    limited = FetchResult("error", URL, 429, error_kind="rate_limited", retry_after=retry_after)
    update = decide(replace(STATE, error_count=5), limited, PollFailed("rate_limited")).update
    assert update.next_poll_at == NOW + delay


@pytest.mark.parametrize(
    ("seen_before", "stored_target", "target", "expected"),
    [
        (0, None, None, (None, 0, None)),
        (0, None, MOVED, (MOVED, 1, None)),  # seen once
        (1, MOVED, MOVED, (MOVED, 2, None)),  # twice
        (2, MOVED, MOVED, (None, 0, MOVED)),  # three times in a row: the feed moves
        (2, "https://news.test/other", MOVED, (MOVED, 1, None)),  # another target: again
        (2, MOVED, None, (None, 0, None)),  # no redirect this time: the run is broken
        (2, URL, URL, (URL, 3, None)),  # "moving" to where it is fetched changes nothing
    ],
)
def test_permanent_redirects_move_the_feed_after_three_polls_in_a_row(
    seen_before: int,
    stored_target: str | None,
    target: str | None,
    expected: tuple[str | None, int, str | None],
) -> None:
    assert PERMANENT_REDIRECT_POLLS == 3
    state = replace(STATE, redirect_target=stored_target, redirect_count=seen_before)
    assert follow_redirect(state, target) == expected
    result = replace(OK, permanent_redirect=target)
    update = decide(state, result, BodyRead("d-new", 1, 0, None)).update
    assert (update.redirect_target, update.redirect_count, update.fetch_url) == expected


@pytest.mark.parametrize(
    ("ttl_seconds", "max_age", "delay"),
    [
        (None, None, 600),
        (0, None, 600),  # no hint
        (1800, None, 1800),  # <ttl> is a floor
        (120, None, 600),  # shorter than the interval: no change
        (None, 1200.0, 1200),  # so is Cache-Control max-age
        (1800, 2400.0, 2400),  # the larger floor wins
        (86400, None, 3600),  # capped at max_interval
        (None, 0.0, 600),
    ],
)
def test_ttl_and_max_age_are_floors_capped_at_max_interval(
    ttl_seconds: int | None, max_age: float | None, delay: float
) -> None:
    result = replace(OK, max_age=max_age)
    # One new item in one interval: the rate expected, so the interval stays 600.
    update = decide(STATE, result, BodyRead("d-new", 1, 1, ttl_seconds)).update
    assert update.interval == 600
    assert update.next_poll_at == NOW + delay


def test_the_stored_ttl_stays_a_floor_while_nothing_new_is_read() -> None:
    for result in (OK, NOT_MODIFIED):
        update = decide(replace(STATE, ttl=1800.0), result, NothingToRead()).update
        assert (update.ttl, update.next_poll_at) == (1800.0, NOW + 1800)


@pytest.mark.parametrize(
    ("last_success_at", "items", "new_items", "gap"),
    [
        (NOW - 600, 3, 3, True),  # every item new: some may have dropped out unseen
        (NOW - 600, 3, 2, False),
        (NOW - 600, 1, 1, False),  # one item says nothing
        (NOW - 600, 0, 0, False),
        (None, 3, 3, False),  # the first poll sees everything as new: no gap
    ],
)
def test_possible_gap(last_success_at: float | None, items: int, new_items: int, gap: bool) -> None:
    state = replace(STATE, last_success_at=last_success_at)
    update = decide(state, OK, BodyRead("d-new", items, new_items, None)).update
    assert update.possible_gap is gap
    if gap:
        assert update.interval <= STATE.current_interval / GAP_SPEEDUP
        assert update.next_poll_at == NOW + update.interval


def test_first_success_keeps_the_interval_and_learns_no_rate() -> None:
    state = replace(STATE, last_success_at=None, status="new")
    update = decide(state, OK, BodyRead("d-new", 5, 5, None)).update
    assert (update.interval, update.item_rate) == (600, None)
    assert update.next_poll_at == NOW + 600


def test_a_quiet_hour_slows_the_feed_down() -> None:
    state = replace(STATE, last_success_at=NOW - 3600)
    update = decide(state, OK, BodyRead("d-new", 3, 0, None)).update
    assert update.item_rate is not None
    assert update.item_rate < 1 / 600
    assert 600 < update.interval <= 3600


def test_digest_to_read() -> None:
    digest = body_digest(OK)
    assert digest_to_read(STATE, OK) == digest
    assert digest_to_read(replace(STATE, body_digest=digest), OK) is None  # read last time
    assert digest_to_read(STATE, NOT_MODIFIED) is None
    # What the parse depends on besides the body is part of the digest.
    assert body_digest(replace(OK, content_type="text/xml")) != digest
    assert body_digest(replace(OK, url=MOVED)) != digest
