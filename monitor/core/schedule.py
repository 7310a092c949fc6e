"""When to poll a feed next: pure functions of what the polls saw, the feed's settings and now.

* adaptive interval (``adapt``): an estimate of the feed's rate of new items sets the
  interval to about one new item per poll, within [min_interval, max_interval]. The estimate
  starts at one item per configured interval and moves towards what the polls observe with
  a weight that grows with the time observed (time constant ``RATE_TIME_CONSTANT``), so a
  minute of silence says little and a day of it says a lot, however often the feed is
  polled. A response whose items were all new may have overflowed the feed's window: the
  next poll then comes at least ``GAP_SPEEDUP`` times sooner;
* success (``after_success``): that interval, raised to the server's own hints (``<ttl>``,
  ``sy:updatePeriod``, ``Cache-Control: max-age``/``Expires``) as a floor, capped at
  max_interval so a feed is never left unpolled longer;
* failure (``after_failure``): exponential backoff from the interval, capped at max_interval,
  never given up; ``Retry-After``: exactly that long (capped at max_interval);
* every other wait gets +-10 % jitter so feeds configured together drift apart.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

JITTER = 0.1
# Aim for about this many new items per poll: alerts stay timely without hammering.
ITEMS_PER_POLL = 1.0
# Observing a feed this long moves the rate estimate ~63 % of the way to what was seen:
# news rates change over hours, and a quiet half hour is not a quiet feed.
RATE_TIME_CONSTANT = 2 * 3600.0
GAP_SPEEDUP = 2.0


@dataclass(frozen=True, slots=True)
class Timing:
    """A feed's configured interval and its bounds, in seconds."""

    interval: float
    min_interval: float
    max_interval: float

    def bound(self, delay: float) -> float:
        return min(max(delay, self.min_interval), self.max_interval)


@dataclass(frozen=True, slots=True)
class Adaptation:
    """What adaptivity remembers between polls."""

    interval: float  # the interval now in force
    item_rate: float | None  # new items per second; None until two successes are known


def adapt(
    timing: Timing,
    current: Adaptation,
    *,
    new_items: int,
    since_last_success: float | None,
    possible_gap: bool,
) -> Adaptation:
    """The adaptation after a successful poll that found ``new_items`` new items.

    ``since_last_success`` is None on a feed's first success: everything is new then, which
    says nothing about its rate.
    """
    if since_last_success is None or since_last_success <= 0:
        return current
    prior = current.item_rate if current.item_rate is not None else ITEMS_PER_POLL / timing.interval
    weight = 1.0 - math.exp(-since_last_success / RATE_TIME_CONSTANT)
    rate = prior + weight * (new_items / since_last_success - prior)
    interval = ITEMS_PER_POLL / rate if rate > 0 else timing.max_interval
    if possible_gap:
        interval = min(interval, current.interval / GAP_SPEEDUP)
    return Adaptation(timing.bound(interval), rate)


def _jittered(delay: float, rng: random.Random) -> float:
    return delay * rng.uniform(1 - JITTER, 1 + JITTER)


def after_success(
    now: float,
    interval: float,
    timing: Timing,
    rng: random.Random,
    *,
    max_age: float | None = None,
    ttl: float | None = None,
) -> float:
    """Next poll time after a good (or 304) response, polling every ``interval`` seconds."""
    delay = timing.bound(max(interval, max_age or 0.0, ttl or 0.0))
    return now + min(_jittered(delay, rng), timing.max_interval)


def after_failure(
    now: float,
    interval: float,
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
    delay = timing.bound(interval * 2.0**exponent)
    return now + min(_jittered(delay, rng), timing.max_interval)
