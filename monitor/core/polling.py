"""What a poll changes on its feed: a pure function of the feed's timing and stored state,
the fetch's result, what reading the body found, ``now`` and a random source.

The poller (``runtime.poller``) only awaits the fetch, the parse and the store, and applies
the ``PollDecision`` made here: redirect counting, possible gap, the ``<ttl>`` hint,
backoff/disabled/refused status and the next poll time (``core.schedule``).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from monitor.core.schedule import Adaptation, Timing, adapt, after_failure, after_success
from monitor.models import FeedState, FeedStatus, FeedUpdate, FetchResult, PollResult

# A 301/308 must be seen this many polls in a row before the stored URL follows it.
PERMANENT_REDIRECT_POLLS = 3


@dataclass(frozen=True, slots=True)
class BodyRead:
    """A new body was parsed: what it held."""

    digest: str  # ``body_digest`` of the fetch result
    items: int
    new_items: int  # of ``items``, those the store had not seen
    ttl_seconds: int | None  # the body's refresh hint (<ttl>, sy:updatePeriod)


@dataclass(frozen=True, slots=True)
class NothingToRead:
    """A 304, or the very body read last time: nothing was parsed."""


@dataclass(frozen=True, slots=True)
class PollFailed:
    """The poll failed: the fetch (``error_kind``), the parse ("parse") or a bug ("internal").

    The fetch result carries the message and any Retry-After.
    """

    kind: str


PollFinding = BodyRead | NothingToRead | PollFailed


@dataclass(frozen=True, slots=True)
class PollDecision:
    update: FeedUpdate  # what the feed's row becomes
    result: PollResult  # what the poll's outcome reports


def body_digest(result: FetchResult) -> str:
    """Identifies what a 200 gave to parse: the body, and what its parse depends on besides."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{result.url}\n{result.content_type}\n".encode("utf-8", "surrogatepass"))
    digest.update(result.body)
    return digest.hexdigest()


def digest_to_read(state: FeedState, result: FetchResult) -> str | None:
    """The digest of a body that needs parsing; None for a 304 or the body read last time."""
    if result.outcome != "ok":
        return None
    digest = body_digest(result)
    return None if digest == state.body_digest else digest


def decide_poll(
    timing: Timing,
    state: FeedState,
    result: FetchResult,
    found: PollFinding,
    *,
    now: float,
    rng: random.Random,
) -> PollDecision:
    """The feed's new state after a poll at ``now`` that fetched ``result`` and found ``found``."""
    if isinstance(found, PollFailed):
        return PollDecision(_after_failure(timing, state, result, found.kind, now, rng), "error")
    read = found if isinstance(found, BodyRead) else None
    update = _after_success(timing, state, result, read, now, rng)
    unchanged = result.outcome == "ok" and read is None
    return PollDecision(update, "unchanged" if unchanged else result.outcome)


def follow_redirect(state: FeedState, target: str | None) -> tuple[str | None, int, str | None]:
    """(redirect_target, redirect_count, new fetch_url) after a response whose leading
    permanent hops led to ``target``."""
    if not target:
        return None, 0, None
    count = state.redirect_count + 1 if target == state.redirect_target else 1
    if count >= PERMANENT_REDIRECT_POLLS and target != state.fetch_url:
        return None, 0, target
    return target, count, None


def _after_success(
    timing: Timing,
    state: FeedState,
    result: FetchResult,
    read: BodyRead | None,
    now: float,
    rng: random.Random,
) -> FeedUpdate:
    target, count, moved_to = follow_redirect(state, result.permanent_redirect)
    if read is None:  # the hint of the body read last time still holds
        ttl, digest, items, new_items = state.ttl, state.body_digest, 0, 0
    else:
        ttl = float(read.ttl_seconds) if read.ttl_seconds else None
        digest, items, new_items = read.digest, read.items, read.new_items
    # The first poll of a feed sees everything as new; that is no gap.
    possible_gap = state.last_success_at is not None and items > 1 and new_items == items
    adapted = adapt(
        timing,
        Adaptation(state.current_interval, state.item_rate),
        new_items=new_items,
        since_last_success=None if state.last_success_at is None else now - state.last_success_at,
        possible_gap=possible_gap,
    )
    fresh = result.outcome == "ok"  # a 304 keeps the validators it was asked with
    return FeedUpdate(
        status="ok",
        polled_at=now,
        next_poll_at=after_success(
            now, adapted.interval, timing, rng, max_age=result.max_age, ttl=ttl
        ),
        interval=adapted.interval,
        error_count=0,
        success=True,
        item_rate=adapted.item_rate,
        possible_gap=possible_gap,
        etag=result.etag if fresh else state.etag,
        last_modified=result.last_modified if fresh else state.last_modified,
        fetch_url=moved_to,
        redirect_target=target,
        redirect_count=count,
        body_digest=digest,
        ttl=ttl,
    )


def _after_failure(
    timing: Timing,
    state: FeedState,
    result: FetchResult,
    kind: str,
    now: float,
    rng: random.Random,
) -> FeedUpdate:
    errors = state.error_count + 1
    status: FeedStatus = (
        "disabled" if kind == "gone" else "refused" if kind == "refused" else "backoff"
    )
    return FeedUpdate(
        status=status,
        polled_at=now,
        next_poll_at=after_failure(
            now, state.current_interval, timing, errors, rng, retry_after=result.retry_after
        ),
        interval=state.current_interval,
        error_count=errors,
        success=False,
        item_rate=state.item_rate,
        last_error=result.error,
        last_error_kind=kind,
        redirect_target=state.redirect_target,
        redirect_count=state.redirect_count,
    )
