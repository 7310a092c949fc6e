"""Throttles and digests in the store, on every backend (SQLite file; PostgreSQL)."""

from __future__ import annotations

import json
import threading

from sqlalchemy import create_engine, select

from monitor.core import routing as digest
from monitor.core.routing import DigestSchedule, Routing, Throttle
from monitor.documents.payload import digest_entry, digest_payload
from monitor.models import FeedSpec, FeedUpdate, NewAlert, SealedDigest
from monitor.store import Store, schema, schema_v1
from monitor.store.schema import SCHEMA_VERSION, alerts, digests, throttle_windows
from tests.store.records import make_item, read, record_poll, seal, stored_schema_version

HOUR = 3600.0
T0 = 1_750_000_000.0 - 1_750_000_000.0 % HOUR + 60  # one minute into an hour, UTC
FEED = "http://a.test/feed"
THROTTLED = Routing(throttles={"r": Throttle(max=2, per=HOUR)})


def poll(store: Store, keys: list[str], at: float, hooks: tuple[str, ...] = ("h",)) -> None:
    """One poll creating an alert of rule ``r`` per key, at ``at``, of a feed in the store."""
    store.sync_feeds([FeedSpec(FEED, "a", 600)], at)
    new = [make_item(key) for key in keys]
    alerts = [
        NewAlert(
            id=f"msg_{key}",
            rule="r",
            item=it,
            payload={"data": {"item": {"title": it.title, "link": it.link}}},
            webhooks=hooks,
            created_at=at,
        )
        for key, it in zip(keys, new, strict=True)
    ]
    record_poll(store, FEED, FeedUpdate("ok", at, at + 600, 600, 0, True), new, alerts, at)


def states(store: Store) -> dict[tuple[str, str], str]:
    return {(d.alert_id, d.webhook): d.state for d in store.list_deliveries(limit=1000)}


def test_throttle_holds_alerts_beyond_max_in_the_window(store: Store, store_url: str) -> None:
    store.set_routing(THROTTLED)
    poll(store, ["a", "b", "c"], T0)  # the third is over max=2
    poll(store, ["d"], T0 + 60)  # counted from the store, not from this poll
    got = states(store)
    assert [got[(f"msg_{k}", "h")] for k in "abcd"] == ["pending", "pending", "held", "held"]
    assert read(store_url, select(throttle_windows.c.seen)) == 4
    # The next window starts counting again.
    poll(store, ["e"], T0 + HOUR)
    assert states(store)[("msg_e", "h")] == "pending"
    # Every alert is an alert row; the held ones are listed with their state.
    assert store.alert_payload("msg_c") is not None


def test_sealing_makes_one_digest_per_webhook_and_window_even_when_run_twice(
    store: Store,
) -> None:
    store.set_routing(THROTTLED)
    poll(store, ["a", "b", "c", "d"], T0, hooks=("h1", "h2"))
    assert seal(store, T0 + 600) == []  # the window has not ended
    end = T0 - 60 + HOUR
    sealed = seal(store, end)
    assert sealed == sorted(digest.digest_id(h, "throttle:r", T0 - 60) for h in ("h1", "h2"))
    assert seal(store, end + 1) == []
    got = states(store)
    for hook in ("h1", "h2"):
        dig = digest.digest_id(hook, "throttle:r", T0 - 60)
        assert got[(dig, hook)] == "pending"
        assert (got[("msg_c", hook)], got[("msg_d", hook)]) == ("digested", "digested")
        payload = store.alert_payload(dig)
        assert payload is not None
        data = payload["data"]
        assert (data["count"], data["kind"], data["rule"]) == (2, "throttle", "r")
        assert [e["alert_id"] for e in data["alerts"]] == ["msg_c", "msg_d"]
        # Operators see the digest as one, not as the story its row happens to point at.
        [listed] = store.list_deliveries(alert_id=dig)
        assert (listed.title, listed.link) == ("digest (throttle:r) of 2 alerts", "")
    jobs = store.claim_due_deliveries(end, owner="me", lease=30, webhooks=["h1"])
    dig = digest.digest_id("h1", "throttle:r", T0 - 60)
    assert [job.alert_id for job in jobs] == ["msg_a", "msg_b", dig]


def test_two_stores_sealing_at_once_make_one_digest(store_url: str) -> None:
    stores = [Store(store_url) for _ in range(2)]
    try:
        stores[0].set_routing(THROTTLED)
        poll(stores[0], ["a", "b", "c", "d", "e"], T0)
        results: list[list[str]] = []
        barrier = threading.Barrier(2)

        def seal_at_once(s: Store) -> None:
            barrier.wait()
            results.append(seal(s, T0 + HOUR))

        threads = [threading.Thread(target=seal_at_once, args=(s,)) for s in stores]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(len(r) for r in results) == [0, 1]
        digests_sent = [
            d for d in stores[0].list_deliveries(limit=100) if d.alert_id.startswith("dig_")
        ]
        assert len(digests_sent) == 1
    finally:
        for s in stores:
            s.close()


def test_concurrent_polls_share_one_throttle_count(store_url: str) -> None:
    stores = [Store(store_url) for _ in range(2)]
    try:
        for s in stores:
            s.set_routing(THROTTLED)
        barrier = threading.Barrier(2)

        def run(s: Store, prefix: str) -> None:
            barrier.wait()
            poll(s, [f"{prefix}1", f"{prefix}2"], T0)

        threads = [
            threading.Thread(target=run, args=(s, p)) for s, p in zip(stores, "xy", strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        got = sorted(states(stores[0]).values())
        assert got == ["held", "held", "pending", "pending"]
    finally:
        for s in stores:
            s.close()


def test_a_daily_digest_webhook_gets_no_individual_alerts(store: Store) -> None:
    store.set_routing(Routing(digests={"daily": DigestSchedule("daily")}))
    poll(store, ["a", "b"], T0, hooks=("daily", "live"))
    got = states(store)
    assert (got[("msg_a", "live")], got[("msg_b", "live")]) == ("pending", "pending")
    assert (got[("msg_a", "daily")], got[("msg_b", "daily")]) == ("held", "held")
    assert store.claim_due_deliveries(T0 + 86400, owner="me", lease=30, webhooks=["daily"]) == []
    day = T0 - T0 % 86400
    [dig] = seal(store, day + 86400)
    assert dig == digest.digest_id("daily", "daily", day)
    [job] = store.claim_due_deliveries(day + 86400, owner="me", lease=30, webhooks=["daily"])
    assert (job.alert_id, job.payload["data"]["count"]) == (dig, 2)


def test_an_alert_in_an_already_sealed_window_goes_out_individually(
    store: Store, store_url: str
) -> None:
    store.set_routing(Routing(digests={"hourly": DigestSchedule("hourly")}))
    poll(store, ["a"], T0, hooks=("hourly",))
    assert len(seal(store, T0 - 60 + HOUR)) == 1
    poll(store, ["late"], T0 + 30, hooks=("hourly",))  # a slow poll's commit: window sealed
    assert states(store)[("msg_late", "hourly")] == "pending"
    assert read(store_url, select(digests.c.held)) == 1


def test_prune_keeps_held_alerts_and_replay_leaves_them_held(store: Store) -> None:
    store.set_routing(Routing(digests={"daily": DigestSchedule("daily")}))
    poll(store, ["a"], T0, hooks=("daily",))
    store.prune(content_before=T0 + 10, keys_before=T0 + 10)
    assert states(store) == {("msg_a", "daily"): "held"}
    store.replay(T0 + 20)
    assert states(store) == {("msg_a", "daily"): "held"}


def test_a_sealed_digest_stores_the_document_its_builder_wrote(
    store: Store, store_url: str
) -> None:
    store.set_routing(THROTTLED)
    poll(store, ["a", "b", "c", "d", "e"], T0)
    end = T0 - 60 + HOUR
    [dig] = seal(store, end)
    held = [store.alert_payload(f"msg_{k}") for k in "cde"]
    document = digest_payload(
        digest_id=dig,
        kind="throttle:r",
        window_start=T0 - 60,
        window_end=end,
        created_at=end,
        count=3,
        entries=[
            digest_entry(f"msg_{k}", "r", T0, payload or {})
            for k, payload in zip("cde", held, strict=True)
        ],
    )
    stored = read(store_url, select(alerts.c.payload).where(alerts.c.id == dig))
    assert stored == json.dumps(document, ensure_ascii=False)
    assert read(store_url, select(alerts.c.rule).where(alerts.c.id == dig)) == "r"


def test_a_digest_lists_at_most_what_its_builder_asks_for(store: Store) -> None:
    store.set_routing(Routing(digests={"daily": DigestSchedule("daily")}))
    poll(store, ["a", "b", "c"], T0, hooks=("daily",))
    seen = []

    def build(sealed: SealedDigest) -> dict[str, object]:
        seen.append(sealed)
        return {"listed": [a.id for a in sealed.alerts]}

    day = T0 - T0 % 86400
    [dig] = store.seal_due_digests(day + 86400, build, listed=2)
    [sealed] = seen
    assert (sealed.id, sealed.kind, sealed.count) == (dig, "daily", 3)
    assert (sealed.window_start, sealed.window_end) == (day, day + 86400)
    assert sealed.sealed_at == day + 86400
    assert [a.id for a in sealed.alerts] == ["msg_a", "msg_b"]
    assert store.alert_payload(dig) == {"listed": ["msg_a", "msg_b"]}
    [listed] = store.list_deliveries(alert_id=dig)
    assert listed.rule == "digest:daily"


def test_a_v3_database_upgrades_to_digests(store_url: str) -> None:
    engine = create_engine(store_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        for step in schema.MIGRATIONS[:3]:
            step(conn)
        conn.execute(schema_v1.schema_version.insert().values(version=3))
        conn.execute(
            schema_v1.feeds.insert().values(
                url=FEED, name="a", fetch_url=FEED, active=1, status="ok", interval=600.0,
                next_poll_at=T0, error_count=0, items_seen=0, redirect_count=0,
            )
        )  # fmt: skip
    engine.dispose()
    with Store(store_url) as store:
        assert stored_schema_version(store_url) == SCHEMA_VERSION
        poll(store, ["old"], T0)  # no routing: as before
        assert states(store) == {("msg_old", "h"): "pending"}
        store.set_routing(THROTTLED)
        poll(store, ["a", "b", "c"], T0)
        assert states(store)[("msg_c", "h")] == "held"
        assert len(seal(store, T0 + HOUR)) == 1
