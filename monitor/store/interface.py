"""What each consumer needs of the store: one small protocol each, naming exactly the
methods it calls. ``Store`` satisfies them all (``tests/store/test_interface.py``); a
consumer typed with its protocol can be given a fake, and cannot reach for more.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from monitor.models import (
    DeliveryJob,
    DeliveryRecord,
    DeliveryResult,
    FeedSpec,
    FeedState,
    InstanceState,
    Item,
    PollCommit,
    PollRecord,
)
from monitor.store.digests import DigestBuilder


class PollerStore(Protocol):
    """The poller (``runtime.poller``) and the app's poll and drain loops (``runtime.compose``)."""

    def sync_feeds(self, specs: Sequence[FeedSpec], now: float) -> None: ...

    def claim_due_feeds(
        self, now: float, *, owner: str, lease: float, limit: int = 100, urls: Iterable[str] = ()
    ) -> list[FeedState]: ...

    def unseen(self, feed_url: str, item_list: Sequence[Item]) -> list[Item]: ...

    def record_polls(self, polls: Sequence[PollRecord]) -> list[PollCommit]: ...

    def release_feeds(self, urls: Iterable[str], *, owner: str) -> None: ...

    def next_delivery_due(self) -> float | None: ...


class SenderStore(Protocol):
    """The sender (``deliver.sender``)."""

    def due_webhooks(self, now: float) -> set[str]: ...

    def claim_due_deliveries(
        self,
        now: float,
        *,
        owner: str,
        lease: float,
        limit: int = 200,
        webhooks: Sequence[str] = (),
    ) -> list[DeliveryJob]: ...

    def claim_probe(
        self, now: float, *, owner: str, lease: float, webhook: str
    ) -> DeliveryJob | None: ...

    def release_backlog(self, webhook: str, now: float) -> int: ...

    def hold_webhook(self, name: str, until: float) -> None: ...

    def held_deliveries(self, jobs: Sequence[DeliveryJob], now: float) -> set[int]: ...

    def record_deliveries(
        self, results: Sequence[DeliveryResult], *, release: Sequence[DeliveryJob] = ()
    ) -> list[int]: ...

    def disable_webhook(self, name: str, reason: str, now: float) -> None: ...

    def lease_owners(self) -> set[str]: ...

    def release_leases(self, owner: str) -> None: ...


class DaemonStore(Protocol):
    """The daemon and its cluster duties (``runtime.daemon``)."""

    @property
    def queries(self) -> int: ...

    def check_writable(self) -> str | None: ...

    def sync_feeds(self, specs: Sequence[FeedSpec], now: float) -> None: ...

    def claim_due_feeds(
        self, now: float, *, owner: str, lease: float, limit: int = 100, urls: Iterable[str] = ()
    ) -> list[FeedState]: ...

    def feed_status_counts(self) -> dict[str, int]: ...

    def delivery_counts(self) -> dict[str, int]: ...

    def seal_due_digests(
        self, now: float, build_document: DigestBuilder, *, listed: int
    ) -> list[str]: ...

    def prune(self, *, content_before: float, keys_before: float) -> tuple[int, int]: ...

    def heartbeat(self, owner: str, version: str, now: float) -> None: ...

    def take_over_stale(self, now: float, *, silent_for: float) -> list[str]: ...

    def leave(self, owner: str) -> None: ...


class CliStore(Protocol):
    """The operator commands (``cli``)."""

    def close(self) -> None: ...

    def feed_states(self) -> list[FeedState]: ...

    def enable_feed(self, url: str, now: float) -> bool: ...

    def next_feed_due(self) -> float | None: ...

    def delivery_counts(self) -> dict[str, int]: ...

    def disabled_webhooks(self) -> dict[str, str]: ...

    def enable_webhook(self, name: str) -> None: ...

    def instances(self, now: float) -> list[InstanceState]: ...

    def list_deliveries(
        self,
        *,
        limit: int = 50,
        state: str | None = None,
        webhook: str | None = None,
        since: float | None = None,
        alert_id: str | None = None,
    ) -> list[DeliveryRecord]: ...

    def alert_payload(self, alert_id: str) -> dict[str, Any] | None: ...

    def replay(
        self,
        now: float,
        *,
        alert_id: str | None = None,
        state: str | None = None,
        webhook: str | None = None,
        since: float | None = None,
    ) -> int: ...

    def items_since(self, since: float, limit: int = 10000) -> list[Item]: ...
