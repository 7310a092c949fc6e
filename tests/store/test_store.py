"""The store contract, run against every backend (SQLite file; PostgreSQL when reachable)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from monitor.models import FeedSpec, FeedUpdate, Item, NewAlert
from monitor.store import Store
from monitor.store.schema import SCHEMA_VERSION

T0 = 1_750_000_000.0


def make_item(key: str, feed_url: str = "http://a.test/feed", story: str | None = None) -> Item:
    return Item(
        key=key,
        story_key=story or f"url:a.test/{key}",
        feed="a",
        feed_url=feed_url,
        title=f"title {key}",
        link=f"http://a.test/{key}",
        summary="summary",
        content="",
        published=datetime(2025, 6, 1, tzinfo=UTC),
        authors=("Ann",),
        categories=("politics",),
        lang="en",
    )


def make_alert(
    alert_id: str, item: Item, rule: str = "r", hooks: tuple[str, ...] = ("h",)
) -> NewAlert:
    return NewAlert(
        id=alert_id,
        rule=rule,
        item=item,
        payload={"data": {"alert_id": alert_id, "rule": rule}},
        webhooks=hooks,
        created_at=T0,
    )


def ok_update(now: float = T0) -> FeedUpdate:
    return FeedUpdate(
        status="ok",
        polled_at=now,
        next_poll_at=now + 600,
        interval=600,
        error_count=0,
        success=True,
        etag='"v1"',
        last_modified="Mon, 02 Jun 2025 10:00:00 GMT",
    )


def test_migration_records_version_and_is_idempotent(store_url: str) -> None:
    first = Store(store_url)
    assert first.schema_version() == SCHEMA_VERSION
    first.close()
    again = Store(store_url)
    assert again.schema_version() == SCHEMA_VERSION
    again.close()


def test_sync_feeds_adds_due_feeds_and_retires_removed(store: Store) -> None:
    store.sync_feeds(
        [FeedSpec("http://a.test/feed", "a", 600), FeedSpec("http://b.test/f", "b", 60)], T0
    )
    states = {s.url: s for s in store.feed_states()}
    assert states["http://a.test/feed"].next_poll_at == T0
    assert states["http://a.test/feed"].status == "new"
    store.sync_feeds([FeedSpec("http://b.test/f", "b2", 60)], T0 + 5)
    states = {s.url: s for s in store.feed_states()}
    assert not states["http://a.test/feed"].active
    assert states["http://b.test/f"].name == "b2"
    claimed = store.claim_due_feeds(T0 + 10, owner="me", lease=30)
    assert [s.url for s in claimed] == ["http://b.test/f"]


def test_claimed_feed_is_not_claimed_again_until_lease_expires(store: Store) -> None:
    store.sync_feeds([FeedSpec("http://a.test/feed", "a", 600)], T0)
    assert len(store.claim_due_feeds(T0, owner="one", lease=30)) == 1
    assert store.claim_due_feeds(T0 + 1, owner="two", lease=30) == []
    assert len(store.claim_due_feeds(T0 + 31, owner="two", lease=30)) == 1


def test_record_poll_writes_items_alerts_and_deliveries_together(store: Store) -> None:
    url = "http://a.test/feed"
    store.sync_feeds([FeedSpec(url, "a", 600)], T0)
    store.claim_due_feeds(T0, owner="me", lease=30)
    one, two = make_item("1"), make_item("2")
    commit = store.record_poll(
        url,
        ok_update(),
        [one, two],
        [make_alert("msg_1", one, hooks=("h", "k")), make_alert("msg_2", two, rule="s")],
        T0,
    )
    assert commit.new_items == 2
    assert commit.alert_ids == ("msg_1", "msg_2")
    assert commit.deliveries == 3
    state = store.feed_states()[0]
    assert (state.items_seen, state.etag, state.status) == (2, '"v1"', "ok")
    assert state.next_poll_at == T0 + 600
    # The lease is released with the poll: the feed is claimable once due.
    assert len(store.claim_due_feeds(T0 + 601, owner="x", lease=30)) == 1
    assert store.unseen(url, [one, two, make_item("3")]) == [make_item("3")]


def test_an_item_seen_twice_alerts_once(store: Store) -> None:
    url = "http://a.test/feed"
    store.sync_feeds([FeedSpec(url, "a", 600)], T0)
    item = make_item("1")
    store.record_poll(url, ok_update(), [item], [make_alert("msg_1", item)], T0)
    again = store.record_poll(url, ok_update(), [item], [make_alert("msg_2", item)], T0 + 1)
    assert again.new_items == 0
    assert again.alert_ids == ()
    assert store.delivery_counts() == {"pending": 1}


def test_the_same_story_from_two_feeds_alerts_once_per_rule(store: Store) -> None:
    store.sync_feeds(
        [FeedSpec("http://a.test/feed", "a", 600), FeedSpec("http://b.test/f", "b", 600)], T0
    )
    first = make_item("x", "http://a.test/feed", story="url:news.test/story")
    second = make_item("y", "http://b.test/f", story="url:news.test/story")
    store.record_poll("http://a.test/feed", ok_update(), [first], [make_alert("msg_a", first)], T0)
    commit = store.record_poll(
        "http://b.test/f",
        ok_update(),
        [second],
        [make_alert("msg_b", second), make_alert("msg_c", second, rule="other")],
        T0,
    )
    assert commit.new_items == 1
    assert commit.alert_ids == ("msg_c",)


def test_a_failing_transaction_records_nothing(store: Store) -> None:
    url = "http://a.test/feed"
    store.sync_feeds([FeedSpec(url, "a", 600)], T0)
    item = make_item("1")
    broken = NewAlert("msg_1", "r", item, {"unserializable": object()}, ("h",), T0)
    with pytest.raises(TypeError):
        store.record_poll(url, ok_update(), [item], [broken], T0)
    assert store.unseen(url, [item]) == [item]
    assert store.delivery_counts() == {}
    assert store.feed_states()[0].status == "new"


def test_deliveries_are_claimed_oldest_first_with_a_lease(store: Store) -> None:
    url = "http://a.test/feed"
    store.sync_feeds([FeedSpec(url, "a", 600)], T0)
    items = [make_item(str(i)) for i in range(3)]
    alerts = [
        NewAlert(f"msg_{i}", "r", item, {"n": i}, ("h",), T0 + 10 - i)
        for i, item in enumerate(items)
    ]
    store.record_poll(url, ok_update(), items, alerts, T0)
    jobs = store.claim_due_deliveries(T0 + 20, owner="me", lease=60, webhooks=["h"])
    assert [j.alert_id for j in jobs] == ["msg_2", "msg_1", "msg_0"]
    assert jobs[0].payload == {"n": 2}
    assert store.claim_due_deliveries(T0 + 21, owner="me", lease=60, webhooks=["h"]) == []
    assert store.claim_due_deliveries(T0 + 21, owner="me", lease=60, webhooks=["other"]) == []
    store.release_deliveries([jobs[0].delivery_id])
    again = store.claim_due_deliveries(T0 + 22, owner="me", lease=60, webhooks=["h"])
    assert [j.alert_id for j in again] == ["msg_2"]


def test_delivery_outcomes_replay_and_disabled_webhooks(store: Store) -> None:
    url = "http://a.test/feed"
    store.sync_feeds([FeedSpec(url, "a", 600)], T0)
    item = make_item("1")
    store.record_poll(url, ok_update(), [item], [make_alert("msg_1", item, hooks=("h", "k"))], T0)
    jobs = store.claim_due_deliveries(T0, owner="me", lease=60, webhooks=["h", "k"])
    by_hook = {j.webhook: j for j in jobs}
    store.record_delivery(
        by_hook["h"].delivery_id,
        state="delivered",
        attempts=1,
        next_attempt_at=None,
        last_error=None,
        last_status=200,
        delivered_at=T0 + 1,
    )
    store.record_delivery(
        by_hook["k"].delivery_id,
        state="dead",
        attempts=8,
        next_attempt_at=None,
        last_error="HTTP 500",
        last_status=500,
    )
    assert store.delivery_counts() == {"delivered": 1, "dead": 1}
    records = {r.webhook: r for r in store.list_deliveries()}
    assert records["k"].last_error == "HTTP 500"
    assert records["h"].title == "title 1"
    assert store.replay(T0 + 5, state="dead") == 1
    assert store.delivery_counts() == {"delivered": 1, "pending": 1}
    store.disable_webhook("k", "HTTP 410", T0 + 6)
    assert store.disabled_webhooks() == {"k": "HTTP 410"}
    assert store.claim_due_deliveries(T0 + 7, owner="me", lease=60, webhooks=["h", "k"]) == []
    store.enable_webhook("k")
    replayed = store.claim_due_deliveries(T0 + 7, owner="me", lease=60, webhooks=["h", "k"])
    assert [(j.alert_id, j.webhook, j.attempts) for j in replayed] == [("msg_1", "k", 0)]


def test_release_leases_frees_feeds_and_deliveries(store: Store) -> None:
    url = "http://a.test/feed"
    store.sync_feeds([FeedSpec(url, "a", 600)], T0)
    item = make_item("1")
    store.record_poll(
        url, FeedUpdate("ok", T0, T0, 600, 0, True), [item], [make_alert("msg_1", item)], T0
    )
    assert store.claim_due_feeds(T0, owner="me", lease=60)
    assert store.claim_due_deliveries(T0, owner="me", lease=60, webhooks=["h"])
    store.release_leases("me")
    assert store.claim_due_feeds(T0, owner="you", lease=60)
    assert store.claim_due_deliveries(T0, owner="you", lease=60, webhooks=["h"])


def test_items_since_round_trips_items(store: Store) -> None:
    url = "http://a.test/feed"
    store.sync_feeds([FeedSpec(url, "a", 600)], T0)
    item = make_item("1")
    store.record_poll(url, ok_update(), [item], [], T0)
    assert store.items_since(T0 - 1) == [item]
    assert store.items_since(T0 + 1) == []


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
    assert len(store.claim_due_feeds(T0 + 140, owner="four", lease=60, limit=5)) == 2


class _DeadlockError(Exception):
    sqlstate = "40P01"


def test_a_deadlocked_transaction_is_run_again(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    real = store._begin
    failures = iter([OperationalError("UPDATE feeds", {}, _DeadlockError("deadlock detected"))])

    def flaky_begin() -> Any:
        error = next(failures, None)
        if error is not None:
            raise error
        return real()

    monkeypatch.setattr(store, "_begin", flaky_begin)
    store.sync_feeds([FeedSpec("http://a.test/feed", "a", 600)], T0)
    assert [s.url for s in store.feed_states()] == ["http://a.test/feed"]


def test_other_operational_errors_are_not_retried(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    calls = []

    def broken_begin() -> Any:
        calls.append(1)
        raise OperationalError("UPDATE feeds", {}, Exception("disk I/O error"))

    monkeypatch.setattr(store, "_begin", broken_begin)
    with pytest.raises(OperationalError):
        store.sync_feeds([FeedSpec("http://a.test/feed", "a", 600)], T0)
    assert calls == [1]
