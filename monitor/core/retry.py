"""When to try a delivery again: verdict per response, delay per attempt, Retry-After."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Literal

# Before attempt 1, 2, ...: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
DEFAULT_SCHEDULE: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
# +-15 % spreads retries of one outage so consumers are not hit by a thundering herd.
JITTER = 0.15
# A consumer's Retry-After is obeyed, but one absurd value must not park a message forever.
MAX_RETRY_AFTER = 24 * 3600.0

Verdict = Literal["delivered", "retry", "disable"]


def classify(status_code: int | None) -> Verdict:
    """What a response means. ``None`` is a network error or timeout."""
    if status_code is None:
        return "retry"
    if 200 <= status_code < 300:
        return "delivered"
    if status_code == 410:
        # 410 Gone: the consumer says this endpoint is gone for good.
        return "disable"
    # Redirects are not followed (a signed body must not be replayed to another host),
    # so 3xx is a failure like 4xx and 5xx: retried until the schedule runs out.
    return "retry"


def next_delay(
    attempts_made: int,
    schedule: Sequence[float],
    *,
    retry_after: float | None,
    rng: random.Random,
) -> float | None:
    """Seconds to wait before the next attempt; ``None`` once the schedule is used up.

    ``schedule[n]`` is the delay before attempt ``n + 1``, so after ``attempts_made``
    failures the next delay is ``schedule[attempts_made]``. ``retry_after`` (429/503)
    is a floor, capped at ``MAX_RETRY_AFTER``.
    """
    if attempts_made < 0:
        raise ValueError(f"attempts_made must be >= 0, got {attempts_made}")
    if attempts_made >= len(schedule):
        return None
    delay = max(schedule[attempts_made], 0.0) * rng.uniform(1 - JITTER, 1 + JITTER)
    if retry_after is not None:
        delay = max(delay, min(max(retry_after, 0.0), MAX_RETRY_AFTER))
    return delay
