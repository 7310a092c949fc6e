"""A database made by the first release upgrades in place, keeping its data."""

from __future__ import annotations

from sqlalchemy import create_engine

from monitor.models import FeedSpec, FeedUpdate
from monitor.store import Store, schema_v1
from monitor.store.schema import SCHEMA_VERSION

T0 = 1_750_000_000.0
URL = "http://a.test/feed"


def make_v1_database(store_url: str) -> None:
    """What version 1 left behind: its tables, its version, a feed mid-backoff."""
    engine = create_engine(store_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        schema_v1.create(conn)
        conn.execute(schema_v1.schema_version.insert().values(version=1))
        conn.execute(
            schema_v1.feeds.insert().values(
                url=URL,
                name="a",
                fetch_url=URL,
                active=1,
                status="backoff",
                interval=600.0,
                next_poll_at=T0 + 2400,
                error_count=3,
                items_seen=17,
                redirect_count=0,
            )
        )
    engine.dispose()


def test_a_v1_database_upgrades_and_keeps_its_feeds(store_url: str) -> None:
    make_v1_database(store_url)
    store = Store(store_url)
    try:
        assert store.schema_version() == SCHEMA_VERSION
        [state] = store.feed_states()
        assert (state.status, state.error_count, state.items_seen) == ("backoff", 3, 17)
        # New columns start empty: the configured interval is in force, no rate known yet,
        # no body read yet (the next 200 is parsed).
        assert (state.current_interval, state.item_rate, state.possible_gaps) == (600.0, None, 0)
        assert (state.body_digest, state.ttl) == (None, None)
        # Same config after the upgrade: the backoff is kept, not reset to "due now".
        store.sync_feeds([FeedSpec(URL, "a", 600.0)], T0)
        assert store.feed_states()[0].next_poll_at == T0 + 2400
        update = FeedUpdate(
            "ok", T0, T0 + 300, 300.0, 0, True, item_rate=0.01, possible_gap=True,
            body_digest="d1", ttl=1800.0,
        )  # fmt: skip
        store.record_poll(URL, update, [], [], T0)
        after = store.feed_states()[0]
        assert (after.current_interval, after.item_rate, after.possible_gaps) == (300.0, 0.01, 1)
        assert (after.body_digest, after.ttl) == ("d1", 1800.0)
        assert after.interval == 600.0  # the configured interval is not the adapted one
    finally:
        store.close()


def test_a_changed_interval_restarts_adaptation(store_url: str) -> None:
    store = Store(store_url)
    try:
        store.sync_feeds([FeedSpec(URL, "a", 600.0)], T0)
        store.record_poll(URL, FeedUpdate("ok", T0, T0 + 1200, 1200.0, 0, True), [], [], T0)
        store.sync_feeds([FeedSpec(URL, "a", 600.0)], T0 + 1)  # a restart: nothing moves
        state = store.feed_states()[0]
        assert (state.next_poll_at, state.current_interval) == (T0 + 1200, 1200.0)
        store.sync_feeds([FeedSpec(URL, "a", 120.0)], T0 + 2)  # a new, shorter interval
        state = store.feed_states()[0]
        assert (state.next_poll_at, state.current_interval) == (T0 + 122, 120.0)
    finally:
        store.close()
