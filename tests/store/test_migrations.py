"""A database made by the first release upgrades in place, keeping its data."""

from __future__ import annotations

from sqlalchemy import create_engine

from monitor.models import FeedSpec, FeedUpdate
from monitor.store import Store, schema_v1
from monitor.store.schema import SCHEMA_VERSION
from tests.store.records import record_poll, stored_schema_version

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


def test_migration_records_version_and_is_idempotent(store_url: str) -> None:
    with Store(store_url):
        assert stored_schema_version(store_url) == SCHEMA_VERSION
    with Store(store_url):
        assert stored_schema_version(store_url) == SCHEMA_VERSION


def test_a_v1_database_upgrades_and_keeps_its_feeds(store_url: str) -> None:
    make_v1_database(store_url)
    with Store(store_url) as store:
        assert stored_schema_version(store_url) == SCHEMA_VERSION
        [state] = store.feed_states()
        assert (state.status, state.error_count, state.items_seen) == ("backoff", 3, 17)
        # New columns start empty: the configured interval is in force, no rate known yet,
        # no body read yet (the next 200 is parsed).
        assert (state.current_interval, state.item_rate, state.possible_gaps) == (600.0, None, 0)
        assert (state.body_digest, state.ttl) == (None, None)
        assert state.lease_token == 0  # never claimed (v7)
        # Same config after the upgrade: the backoff is kept, not reset to "due now".
        store.sync_feeds([FeedSpec(URL, "a", 600.0)], T0)
        assert store.feed_states()[0].next_poll_at == T0 + 2400
        update = FeedUpdate(
            "ok", T0, T0 + 300, 300.0, 0, True, item_rate=0.01, possible_gap=True,
            body_digest="d1", ttl=1800.0,
        )  # fmt: skip
        record_poll(store, URL, update, [], [], T0)
        after = store.feed_states()[0]
        assert (after.current_interval, after.item_rate, after.possible_gaps) == (300.0, 0.01, 1)
        assert (after.body_digest, after.ttl) == ("d1", 1800.0)
        assert after.interval == 600.0  # the configured interval is not the adapted one
