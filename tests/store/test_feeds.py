"""Feeds in the store: the config's feeds, their schedule, leasing the due ones."""

from __future__ import annotations

from monitor.models import FeedSpec, FeedUpdate
from monitor.store import Store
from tests.store.records import T0, record_poll

URL = "http://a.test/feed"


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


def test_named_feeds_are_claimed_due_or_not(store: Store) -> None:
    store.sync_feeds([FeedSpec(URL, "a", 600), FeedSpec("http://b.test/f", "b", 600)], T0 + 100)
    assert store.claim_due_feeds(T0, owner="me", lease=30) == []
    assert [s.url for s in store.claim_due_feeds(T0, owner="me", lease=30, urls=[URL])] == [URL]


def test_a_changed_interval_restarts_adaptation(store: Store) -> None:
    store.sync_feeds([FeedSpec(URL, "a", 600.0)], T0)
    record_poll(store, URL, FeedUpdate("ok", T0, T0 + 1200, 1200.0, 0, True), [], [], T0)
    store.sync_feeds([FeedSpec(URL, "a", 600.0)], T0 + 1)  # a restart: nothing moves
    state = store.feed_states()[0]
    assert (state.next_poll_at, state.current_interval) == (T0 + 1200, 1200.0)
    store.sync_feeds([FeedSpec(URL, "a", 120.0)], T0 + 2)  # a new, shorter interval
    state = store.feed_states()[0]
    assert (state.next_poll_at, state.current_interval) == (T0 + 122, 120.0)


def test_enable_feed_makes_a_backed_off_feed_due_now(store: Store) -> None:
    assert store.enable_feed(URL, T0) is False  # not in the store yet
    store.sync_feeds([FeedSpec(URL, "a", 600.0)], T0)
    failed = FeedUpdate("backoff", T0, T0 + 7200, 1200.0, 5, False, last_error="HTTP 500")
    record_poll(store, URL, failed, [], [], T0)
    assert store.next_feed_due() == T0 + 7200
    assert store.enable_feed(URL, T0 + 10) is True
    state = store.feed_states()[0]
    assert (state.status, state.error_count, state.next_poll_at) == ("new", 0, T0 + 10)
    assert state.current_interval == 600.0  # the configured interval again
    assert store.next_feed_due() == T0 + 10


def test_no_feed_is_due_when_none_is_active(store: Store) -> None:
    assert store.next_feed_due() is None
    store.sync_feeds([FeedSpec(URL, "a", 600.0)], T0)
    store.sync_feeds([], T0)
    assert store.next_feed_due() is None


def test_released_feeds_are_claimable_at_once_and_only_their_owner_releases(
    store: Store,
) -> None:
    other = "http://b.test/f"
    store.sync_feeds([FeedSpec(URL, "a", 600), FeedSpec(other, "b", 600)], T0)
    assert len(store.claim_due_feeds(T0, owner="one", lease=120)) == 2
    store.release_feeds([URL], owner="one")  # its poll could not be recorded
    store.release_feeds([other], owner="two")  # not two's to give back
    [again] = store.claim_due_feeds(T0 + 1, owner="two", lease=120)
    assert (again.url, again.next_poll_at) == (URL, T0)  # due as it was, schedule unchanged
    assert store.claim_due_feeds(T0 + 2, owner="three", lease=120) == []


def test_feed_status_counts_group_the_active_feeds(store: Store) -> None:
    specs = [FeedSpec(f"http://{name}.test/f", name, 60) for name in ("a", "b", "c", "d")]
    store.sync_feeds(specs, T0)
    update = FeedUpdate(
        status="backoff",
        polled_at=T0,
        next_poll_at=T0 + 60,
        interval=60,
        error_count=1,
        success=False,
    )
    record_poll(store, "http://a.test/f", update, [], [], T0)
    store.sync_feeds(specs[:3], T0 + 1)  # d leaves the config: no longer counted
    assert store.feed_status_counts() == {"backoff": 1, "new": 2}
