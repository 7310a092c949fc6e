"""The state store: every piece of durable state, behind one object built from its parts.

SQLAlchemy Core, one code path for SQLite (the embedded default, WAL) and PostgreSQL. Each
part owns one job and its invariants:

* ``feeds``: the config's feeds and their schedule; due feeds are leased to one poller.
* ``polls``: a poll's feed state, new items, alerts and deliveries in ONE transaction.
* ``digests``: throttle counts and digest windows, counted in that same transaction;
  sealing an ended digest writes its document and delivery atomically.
* ``outbox``: deliveries leased to a sender, their outcomes, replays, paused webhooks.
* ``cluster``: instances sharing the database, their heartbeats and leases.
* ``admin`` and ``retention``: operators' queries, and pruning old rows.
* ``health``: whether the store takes writes now (readiness).

Work is claimed with a lease (``leases``), so a tick never picks up what is still in
flight, and several instances can share one database; a lease's token fences its
holder's writes, so work taken over from a stalled instance is never committed twice. Any
database failure is raised as ``monitor.errors.StoreError`` (``engine``); consumers see the
small protocols of ``interface``.
"""

from __future__ import annotations

from types import TracebackType

from monitor.store.admin import Admin
from monitor.store.cluster import Cluster
from monitor.store.digests import Digests
from monitor.store.engine import Database
from monitor.store.feeds import Feeds
from monitor.store.health import Health
from monitor.store.migrations import migrate
from monitor.store.outbox import Outbox
from monitor.store.polls import Polls
from monitor.store.retention import Retention


class Store:
    """All durable state. Thread-safe: each call runs in its own connection and transaction.

    ``with Store(url) as store:`` closes it on leaving.
    """

    def __init__(self, url: str) -> None:
        self._db = Database(url)
        try:
            migrate(self._db)
        except BaseException:
            self._db.close()
            raise
        feeds, digests, outbox = Feeds(self._db), Digests(self._db), Outbox(self._db)
        polls, cluster = Polls(self._db, digests), Cluster(self._db)
        admin, retention, health = Admin(self._db), Retention(self._db), Health(self._db)

        self.sync_feeds = feeds.sync_feeds
        self.enable_feed = feeds.enable_feed
        self.claim_due_feeds = feeds.claim_due_feeds
        self.release_feeds = feeds.release_feeds
        self.feed_states = feeds.feed_states
        self.feed_status_counts = feeds.feed_status_counts
        self.next_feed_due = feeds.next_feed_due

        self.unseen = polls.unseen
        self.record_polls = polls.record_polls

        self.set_routing = digests.set_routing
        self.seal_due_digests = digests.seal_due_digests

        self.due_webhooks = outbox.due_webhooks
        self.next_delivery_due = outbox.next_delivery_due
        self.claim_due_deliveries = outbox.claim_due_deliveries
        self.claim_probe = outbox.claim_probe
        self.release_backlog = outbox.release_backlog
        self.hold_webhook = outbox.hold_webhook
        self.held_deliveries = outbox.held_deliveries
        self.record_deliveries = outbox.record_deliveries
        self.replay = outbox.replay
        self.disable_webhook = outbox.disable_webhook
        self.enable_webhook = outbox.enable_webhook
        self.disabled_webhooks = outbox.disabled_webhooks

        self.heartbeat = cluster.heartbeat
        self.take_over_stale = cluster.take_over_stale
        self.release_leases = cluster.release_leases
        self.leave = cluster.leave
        self.lease_owners = cluster.lease_owners
        self.instances = cluster.instances

        self.delivery_counts = admin.delivery_counts
        self.list_deliveries = admin.list_deliveries
        self.alert_payload = admin.alert_payload
        self.items_since = admin.items_since

        self.prune = retention.prune

        self.check_writable = health.check_writable

    @property
    def queries(self) -> int:
        """Statements sent so far, for /status and capacity planning."""
        return self._db.queries

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.close()
