"""Records the store reads and writes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from monitor.models import Item


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
    status: str  # new, ok, backoff, disabled, refused
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


@dataclass(frozen=True, slots=True)
class FeedUpdate:
    """What one poll changes on its feed row (written with the poll's items and alerts)."""

    status: str
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


@dataclass(frozen=True, slots=True)
class PollCommit:
    """What a poll's transaction actually wrote (others may have been first)."""

    new_items: int
    alert_ids: tuple[str, ...]
    deliveries: int


@dataclass(frozen=True, slots=True)
class DeliveryJob:
    delivery_id: int
    alert_id: str
    webhook: str
    attempts: int
    payload: dict[str, Any]
    alert_created_at: float
    published: float | None


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What one attempt changes on its delivery row (``record_deliveries``)."""

    delivery_id: int
    state: str  # pending, failed, delivered, dead
    attempts: int
    next_attempt_at: float | None
    last_error: str | None
    last_status: int | None
    delivered_at: float | None = None


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """A delivery with its alert, for operators (``monitor alerts``)."""

    delivery_id: int
    alert_id: str
    rule: str
    webhook: str
    state: str
    attempts: int
    last_error: str | None
    last_status: int | None
    created_at: float
    next_attempt_at: float | None
    delivered_at: float | None
    title: str
    link: str


@dataclass(frozen=True, slots=True)
class InstanceState:
    """A running (or recently seen) instance and the work it holds right now."""

    id: str
    version: str
    started_at: float
    heartbeat_at: float
    feeds_held: int
    deliveries_held: int
