"""Rule throttles and webhook digests: the pure decisions (windows, ids, what to hold).

Semantics
=========

* **Throttle** (``rules[].throttle: {max: 5, per: 1h}``). Time is cut into *fixed* windows
  aligned to ``per`` on the UNIX epoch (UTC): ``per: 1h`` gives 10:00-11:00, 11:00-12:00...;
  ``per: 1d`` gives UTC days; a ``per`` that does not divide a day (``7d``, ``90m``) is still
  aligned to the epoch, not to the first alert. The first ``max`` alerts of the rule created
  in a window go out individually; every later one is *held*: it is stored as an alert like
  any other, but its delivery to each webhook is a ``held`` row that joins that webhook's
  throttle digest for (rule, window). The count is a row per (rule, window) in the store,
  incremented in the transaction that creates the alerts, so instances sharing one
  PostgreSQL store count together.
* **Webhook digest** (``webhooks[].digest: hourly|daily``, optional ``digest_at: "HH:MM"``
  UTC, default ``00:00``; an hourly digest uses only the minute). That webhook never gets an
  individual alert: every alert routed to it is held in its digest for the window
  [``digest_at`` of one period, the next). A webhook digest already holds everything, so a
  throttle adds nothing there.
* **Sealing.** When a window has ended, the store *seals* its digest in one transaction: the
  digest becomes an alert row of its own, whose id (the ``webhook-id``) is
  ``dig_<hash(webhook, kind, window start)>``, with its content (an ``alert.digest``
  document, ``monitor/documents/schema/digest.v1.json``) fixed at that moment, and one ordinary
  delivery to the webhook: retries, breaker and dead letters as for any alert. The held
  deliveries become ``digested``. Sealing is idempotent (the digest id is inserted on
  conflict do nothing), so running it twice, or from two instances at once, makes one
  digest. A cron job per digest webhook seals at the window's end, and a periodic sweep
  seals whatever is overdue (throttle windows, or a cron missed while the daemon was down).
* **Late alerts.** An alert whose window is already sealed (its poll committed after the
  window ended) is delivered individually rather than lost or added to a sent digest.

At least once, as for alerts: a digest may be sent twice (same ``webhook-id``), never two
different digests for one (webhook, kind, window).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

DigestEvery = Literal["hourly", "daily"]
PERIODS: dict[str, float] = {"hourly": 3600.0, "daily": 86400.0}
MIN_THROTTLE_PER = 60.0


@dataclass(frozen=True, slots=True)
class Throttle:
    max: int
    per: float  # seconds; windows are aligned to it on the epoch


@dataclass(frozen=True, slots=True)
class DigestSchedule:
    every: DigestEvery
    offset: float = 0.0  # seconds after the period's start (from ``digest_at``)

    @property
    def period(self) -> float:
        return PERIODS[self.every]


@dataclass(frozen=True, slots=True)
class Routing:
    """What the store needs from the config to route new alerts (empty: send everything)."""

    throttles: Mapping[str, Throttle] = field(default_factory=dict)  # by rule
    digests: Mapping[str, DigestSchedule] = field(default_factory=dict)  # by webhook

    @property
    def active(self) -> bool:
        return bool(self.throttles or self.digests)


@dataclass(frozen=True, slots=True)
class Slot:
    """One digest an alert is held for: (webhook, kind, window) and its stable id."""

    id: str
    webhook: str
    kind: str  # "hourly", "daily" or "throttle:<rule>"
    start: float
    end: float


def window(moment: float, per: float, offset: float = 0.0) -> tuple[float, float]:
    """The fixed window ``[start, end)`` of length ``per`` holding ``moment``.

    Windows start at ``offset + k * per`` seconds after the epoch (UTC).
    """
    start = math.floor((moment - offset) / per) * per + offset
    return start, start + per


def digest_id(webhook: str, kind: str, start: float) -> str:
    """The digest's webhook-id: the same (webhook, kind, window start) always gives it."""
    key = json.dumps([webhook, kind, round(start * 1000)]).encode()  # unambiguous
    return "dig_" + hashlib.sha256(key).hexdigest()[:32]


def throttle_kind(rule: str) -> str:
    return f"throttle:{rule}"


def is_held(position: int, throttle: Throttle) -> bool:
    """Whether the rule's alert number ``position`` (0-based) in its window is held."""
    return position >= throttle.max


def cron_fields(schedule: DigestSchedule) -> dict[str, int]:
    """APScheduler ``CronTrigger`` fields (UTC) that fire at each window's end."""
    minute = int(schedule.offset // 60) % 60
    if schedule.every == "hourly":
        return {"minute": minute, "second": 0}
    return {"hour": int(schedule.offset // 3600), "minute": minute, "second": 0}


def route(
    webhooks: tuple[str, ...],
    *,
    rule: str,
    created_at: float,
    throttled: bool,
    routing: Routing,
) -> tuple[tuple[str, ...], list[Slot]]:
    """(webhooks sent the alert individually, digests it is held for instead).

    ``throttled``: the alert is beyond its rule's ``max`` in its window (``is_held``).
    """
    individual: list[str] = []
    held: list[Slot] = []
    throttle = routing.throttles.get(rule)
    for hook in webhooks:
        schedule = routing.digests.get(hook)
        if schedule is not None:
            start, end = window(created_at, schedule.period, schedule.offset)
            held.append(
                Slot(digest_id(hook, schedule.every, start), hook, schedule.every, start, end)
            )
        elif throttled and throttle is not None:
            kind = throttle_kind(rule)
            start, end = window(created_at, throttle.per)
            held.append(Slot(digest_id(hook, kind, start), hook, kind, start, end))
        else:
            individual.append(hook)
    return tuple(individual), held
