"""Every record that crosses a pipeline stage: plain frozen dataclasses, no behaviour.

The bottom of the import graph: this module imports nothing of the project.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

FeedStatus = Literal["new", "ok", "backoff", "disabled", "refused"]
FetchOutcome = Literal["ok", "not_modified", "error"]
# ``unchanged``: a 200 whose body is the one read last time (not parsed again).
PollResult = Literal["ok", "unchanged", "not_modified", "error"]
DeliveryState = Literal["pending", "failed", "delivered", "dead"]
AttemptResult = Literal["delivered", "retry", "dead", "disabled", "paused"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One feed entry as the parser saw it: plain text, before identity is assigned."""

    guid: str | None
    title: str
    link: str
    summary: str
    content: str
    published: datetime | None  # UTC, tz-aware
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    lang: str = ""


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A parsed feed document."""

    title: str
    link: str
    entries: tuple[Entry, ...]
    lang: str = ""
    ttl_seconds: int | None = None  # <ttl> / sy:updatePeriod hints, if any
    warnings: tuple[str, ...] = ()  # non-fatal problems (bozo on a usable feed)


@dataclass(frozen=True, slots=True)
class Item:
    """A feed entry with its identity: the unit that is stored, matched and alerted on."""

    key: str  # unique within the feed: GUID, else normalized link, else content hash
    story_key: str  # the same story across feeds: normalized link, else the item key
    feed: str  # feed name
    feed_url: str
    title: str
    link: str
    summary: str
    content: str
    published: datetime | None
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    lang: str = ""


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """What the matcher needs of a configured rule."""

    name: str
    query: str
    stem: str | None = None  # e.g. "english" (Snowball)


@dataclass(frozen=True, slots=True)
class FieldHit:
    """Explain data for one matched field: a snippet with hits marked, and the terms."""

    field: str  # title, summary, content, author, category, link, feed
    snippet: str  # hits wrapped in ** **
    terms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RuleMatch:
    rule: str
    hits: tuple[FieldHit, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Alert:
    """A rule matched a story. ``id`` is the webhook-id, stable across every retry."""

    id: str
    rule: str
    item: Item
    hits: tuple[FieldHit, ...]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """A configured feed, as the store needs it."""

    url: str
    name: str
    interval: float


@dataclass(frozen=True, slots=True)
class FeedState:
    url: str
    name: str
    fetch_url: str
    active: bool
    status: FeedStatus
    etag: str | None
    last_modified: str | None
    interval: float
    next_poll_at: float
    last_polled_at: float | None
    last_success_at: float | None
    last_error: str | None
    last_error_kind: str | None
    error_count: int
    items_seen: int
    redirect_target: str | None
    redirect_count: int
    current_interval: float  # the adaptive interval now in force (``interval`` is configured)
    item_rate: float | None  # estimated new items per second; None until a second success
    possible_gaps: int  # polls where every item was new
    body_digest: str | None  # of the last body read successfully (``runner.body_digest``)
    ttl: float | None  # seconds: the refresh hint of that body (<ttl>, sy:updatePeriod)
    # The row's lease generation, bumped by every claim and take-over: a poll commits only
    # under the claim it was made under (``record_polls``). 0: never claimed.
    lease_token: int = 0


@dataclass(frozen=True, slots=True)
class FeedUpdate:
    """What one poll changes on its feed row (written with the poll's items and alerts)."""

    status: FeedStatus
    polled_at: float
    next_poll_at: float
    interval: float  # the adaptive interval now in force
    error_count: int
    success: bool
    item_rate: float | None = None
    possible_gap: bool = False
    etag: str | None = None
    last_modified: str | None = None
    fetch_url: str | None = None
    last_error: str | None = None
    last_error_kind: str | None = None
    redirect_target: str | None = None
    redirect_count: int = 0
    body_digest: str | None = None  # written on success only, as etag and last_modified
    ttl: float | None = None


@dataclass(frozen=True, slots=True)
class NewAlert:
    id: str
    rule: str
    item: Item
    payload: dict[str, Any]
    webhooks: tuple[str, ...]
    created_at: float


@dataclass(frozen=True, slots=True)
class PollRecord:
    """Everything one poll writes (``Store.record_polls``)."""

    feed_url: str
    update: FeedUpdate
    new_items: Sequence[Item]
    new_alerts: Sequence[NewAlert]
    now: float
    lease_token: int = 0  # the claim's (``FeedState.lease_token``): a stale one is refused


@dataclass(frozen=True, slots=True)
class PollCommit:
    """What a poll's transaction actually wrote (others may have been first)."""

    new_items: int
    alert_ids: tuple[str, ...]
    deliveries: int
    # Nothing was written: the feed was claimed again (or taken over) since this poll's
    # claim, so whoever holds it now polls it.
    refused: bool = False


@dataclass(frozen=True, slots=True)
class DeliveryJob:
    delivery_id: int
    alert_id: str
    webhook: str
    attempts: int
    payload: dict[str, Any]
    alert_created_at: float
    published: float | None
    # The row's lease generation, bumped by every claim and take-over: the claim's result
    # is recorded, and the delivery sent, only while it is current. 0: never claimed.
    lease_token: int = 0


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What one attempt changes on its delivery row (``record_deliveries``)."""

    delivery_id: int
    state: DeliveryState
    attempts: int
    next_attempt_at: float | None
    last_error: str | None
    last_status: int | None
    delivered_at: float | None = None
    lease_token: int = 0  # the claim's (``DeliveryJob.lease_token``): a stale one is refused


@dataclass(frozen=True, slots=True)
class AttemptReply:
    """What one delivery attempt got back, before it is judged (``core.delivery``)."""

    status: int | None = None  # the HTTP status; None: no response, or an Apprise target
    error: str | None = None  # why no response came, or why Apprise failed; None: it did not
    retry_after: float | None = None  # seconds, from a Retry-After header
    location: str | None = None  # a redirect's target (never followed)


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """A delivery with its alert, for operators (``monitor alerts``)."""

    delivery_id: int
    alert_id: str
    rule: str
    webhook: str
    state: DeliveryState
    attempts: int
    last_error: str | None
    last_status: int | None
    created_at: float
    next_attempt_at: float | None
    delivered_at: float | None
    title: str
    link: str


@dataclass(frozen=True, slots=True)
class HeldAlert:
    """An alert held in a digest, as stored: ``payload`` is its ``alert.matched`` document."""

    id: str
    rule: str
    created_at: float
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SealedDigest:
    """A digest whose window has ended, as its document is written (``seal_due_digests``)."""

    id: str  # the digest's alert id
    kind: str  # hourly, daily, throttle:<rule>
    window_start: float
    window_end: float
    sealed_at: float
    count: int  # every alert held in the window
    alerts: tuple[HeldAlert, ...]  # the oldest of them, as many as the document lists


@dataclass(frozen=True, slots=True)
class InstanceState:
    """A running (or recently seen) instance and the work it holds right now."""

    id: str
    version: str
    started_at: float
    heartbeat_at: float
    feeds_held: int
    deliveries_held: int


@dataclass(frozen=True, slots=True)
class FetchResult:
    outcome: FetchOutcome
    url: str  # final URL after redirects
    status_code: int | None = None
    body: bytes = b""
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    error_kind: str | None = None  # short, for metrics: timeout, network, refused, ...
    error: str | None = None  # one human-readable line
    retry_after: float | None = None  # seconds, from Retry-After on 429/503 (capped)
    max_age: float | None = None  # seconds, from Cache-Control max-age / Expires
    permanent_redirect: str | None = None  # where the leading 301/308 hops of the chain led
    elapsed: float = 0.0
    bytes_read: int = 0  # body bytes received on the wire (before decompression)


@dataclass(frozen=True, slots=True)
class FeedJob:
    body: bytes
    url: str  # where the body came from (final URL): relative links resolve against it
    content_type: str | None
    feed: str  # the feed's name
    feed_url: str  # the feed's configured URL: part of every item's identity


@dataclass(frozen=True, slots=True)
class ProcessedFeed:
    items: tuple[Item, ...]
    matches: tuple[tuple[RuleMatch, ...], ...]  # per item, in the same order
    ttl_seconds: int | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PollOutcome:
    feed: str
    url: str
    result: PollResult
    new_items: int = 0
    alerts: tuple[str, ...] = ()
    alert_rules: tuple[str, ...] = ()
    possible_gap: bool = False  # every item was new: the feed may have dropped some unseen
    error_kind: str | None = None
    error: str | None = None
    elapsed: float = 0.0
    bytes_read: int = 0


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    delivery_id: int
    alert_id: str
    webhook: str
    result: AttemptResult
    status_code: int | None = None
    error: str | None = None
    latency: float | None = None  # alert created -> delivered, seconds
    published_lag: float | None = None  # item published -> delivered, seconds


@dataclass(frozen=True, slots=True)
class AttemptDecision:
    """What one attempt means (``core.delivery.attempt_result``), for the sender to apply."""

    outcome: DeliveryOutcome  # reported to the caller
    result: DeliveryResult  # written to the delivery's row
    retry_in: float | None  # seconds until the next attempt; None when none follows
    disable_reason: str | None  # a 410: the webhook is disabled, for this reason
