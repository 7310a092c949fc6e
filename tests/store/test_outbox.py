"""The outbox: deliveries leased oldest first, their outcomes, replays, paused webhooks."""

from __future__ import annotations

from monitor.models import FeedSpec, NewAlert
from monitor.store import Store
from tests.store.records import T0, make_alert, make_item, ok_update, record_delivery, record_poll


def test_deliveries_are_claimed_oldest_first_with_a_lease(store: Store) -> None:
    url = "http://a.test/feed"
    store.sync_feeds([FeedSpec(url, "a", 600)], T0)
    items = [make_item(str(i)) for i in range(3)]
    alerts = [
        NewAlert(f"msg_{i}", "r", item, {"n": i}, ("h",), T0 + 10 - i)
        for i, item in enumerate(items)
    ]
    record_poll(store, url, ok_update(), items, alerts, T0)
    assert store.due_webhooks(T0 + 20) == {"h"}
    assert store.next_delivery_due() == T0 + 8
    jobs = store.claim_due_deliveries(T0 + 20, owner="me", lease=60, webhooks=["h"])
    assert [j.alert_id for j in jobs] == ["msg_2", "msg_1", "msg_0"]
    assert jobs[0].payload == {"n": 2}
    assert store.due_webhooks(T0 + 21) == set()
    assert store.claim_due_deliveries(T0 + 21, owner="me", lease=60, webhooks=["h"]) == []
    assert store.claim_due_deliveries(T0 + 21, owner="me", lease=60, webhooks=["other"]) == []
    store.record_deliveries([], release=[jobs[0].delivery_id])
    again = store.claim_due_deliveries(T0 + 22, owner="me", lease=60, webhooks=["h"])
    assert [j.alert_id for j in again] == ["msg_2"]


def test_delivery_outcomes_replay_and_disabled_webhooks(store: Store) -> None:
    url = "http://a.test/feed"
    store.sync_feeds([FeedSpec(url, "a", 600)], T0)
    item = make_item("1")
    record_poll(store, url, ok_update(), [item], [make_alert("msg_1", item, hooks=("h", "k"))], T0)
    jobs = store.claim_due_deliveries(T0, owner="me", lease=60, webhooks=["h", "k"])
    by_hook = {j.webhook: j for j in jobs}
    record_delivery(
        store,
        by_hook["h"].delivery_id,
        state="delivered",
        attempts=1,
        next_attempt_at=None,
        last_error=None,
        last_status=200,
        delivered_at=T0 + 1,
    )
    record_delivery(
        store,
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


def test_a_replay_frees_a_leased_delivery(store: Store) -> None:
    url = "http://a.test/feed"
    store.sync_feeds([FeedSpec(url, "a", 600)], T0)
    item = make_item("1")
    record_poll(store, url, ok_update(), [item], [make_alert("msg_1", item)], T0)
    assert store.claim_due_deliveries(T0, owner="gone", lease=3600, webhooks=["h"])
    assert store.replay(T0 + 1, alert_id="msg_1") == 1
    [job] = store.claim_due_deliveries(T0 + 1, owner="me", lease=60, webhooks=["h"])
    assert (job.alert_id, job.attempts) == ("msg_1", 0)
    assert store.alert_payload("msg_1") == {"data": {"alert_id": "msg_1", "rule": "r"}}
    assert store.alert_payload("msg_unknown") is None
