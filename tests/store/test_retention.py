"""Retention: a month of simulated traffic, a store that stops growing, keys that outlive text."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

from monitor.models import FeedSpec, FeedUpdate, NewAlert
from monitor.store import Store
from tests.store.records import make_item, record_delivery, record_poll

DAY = 86400.0
T0 = 1_750_000_000.0
URL = "http://a.test/feed"


def file_size(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path.stat().st_size


def poll_day(store: Store, day: int, per_day: int = 200) -> None:
    now = T0 + day * DAY
    batch = [
        replace(make_item(f"d{day}-{i}"), content="word " * 600, summary="text " * 100)
        for i in range(per_day)
    ]
    alerts = [NewAlert(f"msg_{day}_{i}", "r", batch[i], {"n": i}, ("h",), now) for i in range(5)]
    record_poll(store, URL, FeedUpdate("ok", now, now + 600, 600, 0, True), batch, alerts, now)
    for job in store.claim_due_deliveries(now, owner="me", lease=60, webhooks=["h"]):
        record_delivery(
            store,
            job,
            state="delivered",
            attempts=1,
            next_attempt_at=None,
            last_error=None,
            last_status=200,
            delivered_at=now,
        )
    store.prune(content_before=now - 7 * DAY, keys_before=now - 14 * DAY)


def test_a_simulated_month_plateaus_and_keys_outlive_text(tmp_path: Path) -> None:
    path = tmp_path / "state.db"  # SQLite only: the file's size is what is measured
    with Store(f"sqlite:///{path}") as store:
        store.sync_feeds([FeedSpec(URL, "a", 600)], T0)
        sizes = {}
        for day in range(31):
            poll_day(store, day)
            sizes[day] = file_size(path)
        # Past the key retention the file stops growing: freed pages are reused.
        assert sizes[30] <= sizes[16] * 1.1, sizes
        # Text is gone after 7 days, the key stays until 14: a re-published item is still seen.
        old = make_item("d20-3")
        assert store.unseen(URL, [old]) == []
        stored = {i.key: i for i in store.items_since(T0 + 20 * DAY - 1, limit=10)}
        assert stored["d20-3"].content == ""
        fresh = {i.key: i for i in store.items_since(T0 + 29 * DAY, limit=400)}
        assert fresh["d29-3"].content.startswith("word")
        # Beyond key retention an item (and its delivered alerts) are forgotten.
        assert store.unseen(URL, [make_item("d1-3")]) == [make_item("d1-3")]
        assert store.delivery_counts() == {"delivered": 15 * 5}


def test_prune_never_drops_an_undelivered_alert(store: Store) -> None:
    store.sync_feeds([FeedSpec(URL, "a", 600)], T0)
    item = make_item("1")
    record_poll(
        store,
        URL,
        FeedUpdate("ok", T0, T0, 600, 0, True),
        [item],
        [NewAlert("msg_1", "r", item, {}, ("h",), T0)],
        T0,
    )
    store.prune(content_before=T0 + 400 * DAY, keys_before=T0 + 400 * DAY)
    assert store.delivery_counts() == {"pending": 1}
    assert store.unseen(URL, [item]) == []
