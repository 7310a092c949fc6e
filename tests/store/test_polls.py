"""Writing polls: feed state, items seen, alerts and deliveries in one transaction."""

from __future__ import annotations

import pytest

from monitor.models import FeedSpec, FeedUpdate, NewAlert, PollRecord
from monitor.store import Store
from tests.store.records import T0, make_alert, make_item, ok_update, record_poll


def test_record_poll_writes_items_alerts_and_deliveries_together(store: Store) -> None:
    url = "http://a.test/feed"
    store.sync_feeds([FeedSpec(url, "a", 600)], T0)
    [claim] = store.claim_due_feeds(T0, owner="me", lease=30)
    one, two = make_item("1"), make_item("2")
    commit = record_poll(
        store,
        url,
        ok_update(),
        [one, two],
        [make_alert("msg_1", one, hooks=("h", "k")), make_alert("msg_2", two, rule="s")],
        T0,
        claim.lease_token,
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
    record_poll(store, url, ok_update(), [item], [make_alert("msg_1", item)], T0)
    again = record_poll(store, url, ok_update(), [item], [make_alert("msg_2", item)], T0 + 1)
    assert again.new_items == 0
    assert again.alert_ids == ()
    assert store.delivery_counts() == {"pending": 1}


def test_the_same_story_from_two_feeds_alerts_once_per_rule(store: Store) -> None:
    store.sync_feeds(
        [FeedSpec("http://a.test/feed", "a", 600), FeedSpec("http://b.test/f", "b", 600)], T0
    )
    first = make_item("x", "http://a.test/feed", story="url:news.test/story")
    second = make_item("y", "http://b.test/f", story="url:news.test/story")
    record_poll(store, "http://a.test/feed", ok_update(), [first], [make_alert("msg_a", first)], T0)
    commit = record_poll(
        store,
        "http://b.test/f",
        ok_update(),
        [second],
        [make_alert("msg_b", second), make_alert("msg_c", second, rule="other")],
        T0,
    )
    assert commit.new_items == 1
    assert commit.alert_ids == ("msg_c",)


def test_polls_written_together_each_get_their_own_commit(store: Store) -> None:
    urls = ["http://b.test/f", "http://a.test/feed"]  # not in the store's lock order
    store.sync_feeds([FeedSpec(url, url[7], 600) for url in urls], T0)
    first, second = make_item("1", urls[0]), make_item("2", urls[1])
    commits = store.record_polls(
        [
            PollRecord(urls[0], ok_update(), [first], [make_alert("msg_1", first)], T0),
            PollRecord(urls[1], ok_update(), [second], [], T0),
        ]
    )
    assert [(c.new_items, c.alert_ids, c.deliveries) for c in commits] == [
        (1, ("msg_1",), 1),
        (1, (), 0),
    ]
    assert {s.url: s.items_seen for s in store.feed_states()} == {urls[0]: 1, urls[1]: 1}


def test_a_failing_transaction_records_nothing(store: Store) -> None:
    url = "http://a.test/feed"
    store.sync_feeds([FeedSpec(url, "a", 600)], T0)
    item = make_item("1")
    broken = NewAlert("msg_1", "r", item, {"unserializable": object()}, ("h",), T0)
    with pytest.raises(TypeError):
        record_poll(store, url, ok_update(), [item], [broken], T0)
    assert store.unseen(url, [item]) == [item]
    assert store.delivery_counts() == {}
    assert store.feed_states()[0].status == "new"


def test_a_failed_poll_keeps_the_last_good_validators(store: Store) -> None:
    url = "http://a.test/feed"
    store.sync_feeds([FeedSpec(url, "a", 600)], T0)
    record_poll(store, url, ok_update(), [], [], T0)
    failed = FeedUpdate("backoff", T0 + 600, T0 + 1800, 600, 1, False, last_error="timeout")
    record_poll(store, url, failed, [], [], T0 + 600)
    state = store.feed_states()[0]
    assert (state.etag, state.last_success_at, state.last_polled_at) == ('"v1"', T0, T0 + 600)
    assert (state.status, state.error_count, state.last_error) == ("backoff", 1, "timeout")


def test_items_since_round_trips_items(store: Store) -> None:
    url = "http://a.test/feed"
    store.sync_feeds([FeedSpec(url, "a", 600)], T0)
    item = make_item("1")
    record_poll(store, url, ok_update(), [item], [], T0)
    assert store.items_since(T0 - 1) == [item]
    assert store.items_since(T0 + 1) == []
