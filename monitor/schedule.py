"""When to poll a feed next: pure functions of the last outcome, the feed's settings and now.

* success: the configured interval, raised to the server's own hints (``<ttl>``,
  ``Cache-Control: max-age``/``Expires``) as a floor, kept within [min_interval, max_interval];
* failure: exponential backoff from the interval, capped at max_interval, never given up;
* ``Retry-After``: exactly that long (capped at max_interval);
* every wait gets +-10 % jitter so feeds configured together drift apart.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

JITTER = 0.1


@dataclass(frozen=True, slots=True)
class Timing:
    interval: float
    min_interval: float
    max_interval: float


def _jittered(delay: float, rng: random.Random) -> float:
    return delay * rng.uniform(1 - JITTER, 1 + JITTER)


def after_success(
    now: float,
    timing: Timing,
    rng: random.Random,
    *,
    max_age: float | None = None,
    ttl: float | None = None,
) -> float:
    """Next poll time after a good (or 304) response."""
    delay = max(timing.interval, max_age or 0.0, ttl or 0.0)
    delay = min(max(delay, timing.min_interval), timing.max_interval)
    return now + _jittered(delay, rng)


def after_failure(
    now: float,
    timing: Timing,
    error_count: int,
    rng: random.Random,
    *,
    retry_after: float | None = None,
) -> float:
    """Next poll time after the ``error_count``-th failure in a row (1 for the first)."""
    if retry_after is not None:
        return now + min(max(retry_after, 0.0), timing.max_interval)
    exponent = min(max(error_count - 1, 0), 30)
    delay = min(timing.interval * 2.0**exponent, timing.max_interval)
    return now + _jittered(max(delay, timing.min_interval), rng)
