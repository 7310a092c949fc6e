"""Instances sharing one store: heartbeats, leases held, leaving, taking over the dead."""

from __future__ import annotations

from monitor.models import FeedSpec, FeedUpdate
from monitor.store import Store
from tests.store.records import T0, make_alert, make_item, record_poll


def test_release_leases_frees_feeds_and_deliveries(store: Store) -> None:
    url = "http://a.test/feed"
    store.sync_feeds([FeedSpec(url, "a", 600)], T0)
    item = make_item("1")
    record_poll(
        store, url, FeedUpdate("ok", T0, T0, 600, 0, True), [item], [make_alert("msg_1", item)], T0
    )
    assert store.claim_due_feeds(T0, owner="me", lease=60)
    assert store.claim_due_deliveries(T0, owner="me", lease=60, webhooks=["h"])
    assert store.lease_owners() == {"me"}
    store.release_leases("me")
    assert store.lease_owners() == set()
    assert store.claim_due_feeds(T0, owner="you", lease=60)
    assert store.claim_due_deliveries(T0, owner="you", lease=60, webhooks=["h"])


def test_instances_heartbeat_hold_leases_and_leave(store: Store) -> None:
    store.sync_feeds(
        [FeedSpec("http://a.test/feed", "a", 600), FeedSpec("http://b.test/f", "b", 600)], T0
    )
    store.heartbeat("one", "0.1.0", T0)
    store.heartbeat("two", "0.1.0", T0 + 1)
    store.claim_due_feeds(T0 + 1, owner="one", lease=30, limit=1)
    store.heartbeat("one", "0.1.0", T0 + 2)
    held = {i.id: (i.feeds_held, i.heartbeat_at, i.started_at) for i in store.instances(T0 + 3)}
    assert held == {"one": (1, T0 + 2, T0), "two": (0, T0 + 1, T0 + 1)}
    # An expired lease is held by no one.
    assert {i.id: i.feeds_held for i in store.instances(T0 + 40)} == {"one": 0, "two": 0}
    store.leave("one")
    assert [i.id for i in store.instances(T0 + 3)] == ["two"]
    assert store.claim_due_feeds(T0 + 3, owner="two", lease=30, limit=5)
    # An instance whose heartbeat stopped loses its leases at once, long before they expire.
    store.heartbeat("three", "0.1.0", T0 + 100)
    assert store.claim_due_feeds(T0 + 100, owner="three", lease=3600)
    assert store.take_over_stale(T0 + 105, silent_for=30) == ["two"]
    assert store.take_over_stale(T0 + 140, silent_for=30) == ["three"]
    assert store.instances(T0 + 140) == []
    assert len(store.claim_due_feeds(T0 + 140, owner="four", lease=30, limit=5)) == 2
