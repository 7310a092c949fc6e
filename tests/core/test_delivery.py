"""What one delivery attempt means, as tables: no sockets, no clocks."""

from __future__ import annotations

import random

import pytest

from monitor.core.delivery import attempt_result, counts_as_attempt, endpoint_hold
from monitor.core.retry import DEFAULT_SCHEDULE
from monitor.models import AttemptReply, DeliveryJob, DeliveryOutcome, DeliveryResult

NOW = 1_750_000_000.0
CREATED = NOW - 3.0
PUBLISHED = NOW - 60.0
URL = "https://hooks.test/services/T0/B0/XXXX"
SCHEDULE = (0.0, 10.0, 100.0)  # three attempts in all
# Scheme and host only: a chat webhook's path is its credential.
GONE = "HTTP 410 Gone from https://hooks.test: webhook disabled"


def job(attempts: int = 0, published: float | None = PUBLISHED) -> DeliveryJob:
    return DeliveryJob(7, "msg_1", "h", attempts, {}, CREATED, published)


class FixedRandom(random.Random):
    """Jitter at a chosen point of its range: 0 is the low bound, 1 the high one."""

    def __init__(self, point: float) -> None:
        super().__init__()
        self.point = point

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.point


Meaning = tuple[str, str, str | None, float | None]


def decide(reply: AttemptReply, attempts: int = 0, point: float = 0.5) -> Meaning:
    """(result, recorded state, error, retry_in) of one attempt after ``attempts``."""
    decision = attempt_result(
        job(attempts), reply, schedule=SCHEDULE, url=URL, now=NOW, rng=FixedRandom(point)
    )
    return (
        decision.outcome.result,
        decision.result.state,
        decision.outcome.error,
        decision.retry_in,
    )


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        # 2xx, whatever it says besides: delivered.
        (AttemptReply(200), ("delivered", "delivered", None, None)),
        (AttemptReply(204, retry_after=60.0), ("delivered", "delivered", None, None)),
        (AttemptReply(299), ("delivered", "delivered", None, None)),
        # An Apprise target: no status, no error.
        (AttemptReply(), ("delivered", "delivered", None, None)),
        # 3xx: not followed, a failure retried on the schedule (the second attempt: 10 s).
        (
            AttemptReply(307, location="https://elsewhere.test/"),
            (
                "retry",
                "failed",
                "HTTP 307 redirect to https://elsewhere.test/ (not followed)",
                10.0,
            ),
        ),
        (AttemptReply(301), ("retry", "failed", "HTTP 301 redirect to ? (not followed)", 10.0)),
        (
            AttemptReply(302, location="https://u:pw@elsewhere.test/in?token=t"),
            (
                "retry",
                "failed",
                "HTTP 302 redirect to https://elsewhere.test/in?token=*** (not followed)",
                10.0,
            ),
        ),
        # 4xx: no permanent failure but 410; 408 and 429 alike.
        (AttemptReply(400), ("retry", "failed", "HTTP 400", 10.0)),
        (AttemptReply(401), ("retry", "failed", "HTTP 401", 10.0)),
        (AttemptReply(404), ("retry", "failed", "HTTP 404", 10.0)),
        (AttemptReply(408), ("retry", "failed", "HTTP 408", 10.0)),
        (AttemptReply(429), ("retry", "failed", "HTTP 429", 10.0)),
        # 410: the webhook is disabled; the delivery stays failed, due once it is enabled.
        (AttemptReply(410), ("disabled", "failed", GONE, None)),
        (AttemptReply(410, retry_after=60.0), ("disabled", "failed", GONE, None)),
        # 5xx.
        (AttemptReply(500), ("retry", "failed", "HTTP 500", 10.0)),
        (AttemptReply(503), ("retry", "failed", "HTTP 503", 10.0)),
        # No response: network error, timeout, refused address, a failed Apprise notify.
        (
            AttemptReply(error="ConnectError: refused"),
            ("retry", "failed", "ConnectError: refused", 10.0),
        ),
        (AttemptReply(error="timed out after 5s"), ("retry", "failed", "timed out after 5s", 10.0)),
        # Retry-After is a floor on 429 and 503 only.
        (AttemptReply(429, retry_after=60.0), ("retry", "failed", "HTTP 429", 60.0)),
        (AttemptReply(503, retry_after=60.0), ("retry", "failed", "HTTP 503", 60.0)),
        (AttemptReply(503, retry_after=1.0), ("retry", "failed", "HTTP 503", 10.0)),
        (AttemptReply(500, retry_after=60.0), ("retry", "failed", "HTTP 500", 10.0)),
        (AttemptReply(429, retry_after=10 * 86400.0), ("retry", "failed", "HTTP 429", 86400.0)),
    ],
)
def test_what_an_attempt_means(reply: AttemptReply, expected: Meaning) -> None:
    assert decide(reply) == expected


@pytest.mark.parametrize(
    ("attempts", "expected"),
    [
        (0, ("retry", "failed", "HTTP 500", 10.0)),
        (1, ("retry", "failed", "HTTP 500", 100.0)),
        (2, ("dead", "dead", "HTTP 500", None)),  # the last of three attempts
        (5, ("dead", "dead", "HTTP 500", None)),
    ],
)
def test_the_last_attempt_is_dead(attempts: int, expected: Meaning) -> None:
    assert decide(AttemptReply(500), attempts) == expected


def test_a_dead_delivery_ignores_retry_after() -> None:
    assert decide(AttemptReply(429, retry_after=60.0), attempts=2)[:2] == ("dead", "dead")


@pytest.mark.parametrize(("point", "expected"), [(0.0, 8.5), (0.5, 10.0), (1.0, 11.5)])
def test_jitter_bounds(point: float, expected: float) -> None:
    # +-15 % of the scheduled 10 s.
    assert decide(AttemptReply(500), point=point)[3] == pytest.approx(expected)


def test_a_seeded_jitter_stays_within_15_percent() -> None:
    rng = random.Random(11)
    for attempts, base in ((0, 10.0), (1, 100.0)):
        for _ in range(200):
            decision = attempt_result(
                job(attempts), AttemptReply(502), schedule=SCHEDULE, url=URL, now=NOW, rng=rng
            )
            assert decision.retry_in is not None
            assert 0.85 * base <= decision.retry_in <= 1.15 * base


def test_only_a_scheduled_retry_draws_from_the_random_source() -> None:
    # The sender's jitter stream is the same whatever else was delivered in between.
    rng = random.Random(5)
    state = rng.getstate()
    for reply, attempts in ((AttemptReply(204), 0), (AttemptReply(410), 0), (AttemptReply(500), 2)):
        attempt_result(job(attempts), reply, schedule=SCHEDULE, url=URL, now=NOW, rng=rng)
    assert rng.getstate() == state


def test_a_delivered_attempt_is_recorded_with_its_latencies() -> None:
    decision = attempt_result(
        job(1), AttemptReply(200), schedule=DEFAULT_SCHEDULE, url=URL, now=NOW, rng=random.Random()
    )
    assert decision.outcome == DeliveryOutcome(
        7, "msg_1", "h", "delivered", status_code=200, latency=3.0, published_lag=60.0
    )
    assert decision.result == DeliveryResult(
        7,
        state="delivered",
        attempts=2,
        next_attempt_at=None,
        last_error=None,
        last_status=200,
        delivered_at=NOW,
    )
    assert decision.disable_reason is None
    no_date = attempt_result(
        job(published=None),
        AttemptReply(200),
        schedule=SCHEDULE,
        url=URL,
        now=NOW,
        rng=random.Random(),
    )
    assert no_date.outcome.published_lag is None


def test_a_retry_is_recorded_due_after_its_delay() -> None:
    decision = attempt_result(
        job(),
        AttemptReply(503, retry_after=30.0),
        schedule=SCHEDULE,
        url=URL,
        now=NOW,
        rng=random.Random(),
    )
    assert decision.outcome == DeliveryOutcome(7, "msg_1", "h", "retry", 503, "HTTP 503")
    assert decision.result == DeliveryResult(
        7,
        state="failed",
        attempts=1,
        next_attempt_at=NOW + 30.0,
        last_error="HTTP 503",
        last_status=503,
    )


def test_a_410_disables_with_its_reason_and_stays_due() -> None:
    decision = attempt_result(
        job(), AttemptReply(410), schedule=SCHEDULE, url=URL, now=NOW, rng=random.Random()
    )
    assert decision.disable_reason == GONE
    assert decision.outcome == DeliveryOutcome(7, "msg_1", "h", "disabled", 410, GONE)
    assert decision.result == DeliveryResult(
        7, state="failed", attempts=1, next_attempt_at=NOW, last_error=GONE, last_status=410
    )


def test_a_dead_delivery_is_recorded_with_no_next_attempt() -> None:
    decision = attempt_result(
        job(2),
        AttemptReply(error="timed out after 5s"),
        schedule=SCHEDULE,
        url=URL,
        now=NOW,
        rng=random.Random(),
    )
    assert decision.outcome == DeliveryOutcome(7, "msg_1", "h", "dead", None, "timed out after 5s")
    assert decision.result == DeliveryResult(
        7,
        state="dead",
        attempts=3,
        next_attempt_at=None,
        last_error="timed out after 5s",
        last_status=None,
    )


@pytest.mark.parametrize(
    ("reply", "until"),
    [
        # A Retry-After on 429 or 503 holds the whole endpoint, capped at 24 h.
        (AttemptReply(429, retry_after=3600.0), NOW + 3600),
        (AttemptReply(503, retry_after=5.0), NOW + 5),
        (AttemptReply(429, retry_after=10 * 86400.0), NOW + 86400),
        # No Retry-After, a past one, or one on another status: no hold.
        (AttemptReply(429), None),
        (AttemptReply(503, retry_after=0.0), None),
        (AttemptReply(503, retry_after=-30.0), None),
        (AttemptReply(500, retry_after=60.0), None),
        (AttemptReply(200, retry_after=60.0), None),
        (AttemptReply(error="ConnectError: refused"), None),
    ],
)
def test_a_retry_after_holds_the_endpoint(reply: AttemptReply, until: float | None) -> None:
    assert endpoint_hold(reply, NOW) == until


@pytest.mark.parametrize(
    ("reply", "attempts", "early", "counted"),
    [
        # A scheduled attempt always counts.
        (AttemptReply(200), 1, False, True),
        (AttemptReply(500), 1, False, True),
        (AttemptReply(500), 2, False, True),  # dead
        # An early probe counts when delivered or disabling; failed, the row is untouched,
        # even where the same failure on schedule would have been its last (dead).
        (AttemptReply(204), 1, True, True),
        (AttemptReply(410), 1, True, True),
        (AttemptReply(503), 1, True, False),
        (AttemptReply(429, retry_after=60.0), 1, True, False),
        (AttemptReply(error="timed out after 5s"), 2, True, False),
    ],
)
def test_an_early_probe_counts_only_if_it_got_through(
    reply: AttemptReply, attempts: int, early: bool, counted: bool
) -> None:
    decision = attempt_result(
        job(attempts), reply, schedule=SCHEDULE, url=URL, now=NOW, rng=FixedRandom(0.5)
    )
    assert counts_as_attempt(decision, early=early) is counted
