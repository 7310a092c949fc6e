"""The outbox: deliveries leased oldest first, their outcomes, replays, paused webhooks."""

from __future__ import annotations

from monitor.models import DeliveryState, FeedSpec, NewAlert
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
    store.record_deliveries([], release=[jobs[0]])
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
        by_hook["h"],
        state="delivered",
        attempts=1,
        next_attempt_at=None,
        last_error=None,
        last_status=200,
        delivered_at=T0 + 1,
    )
    record_delivery(
        store,
        by_hook["k"],
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


def backlog(store: Store, hooks: tuple[str, ...] = ("h",)) -> dict[str, int]:
    """Five alerts to ``hooks``, claimed and recorded: msg_0 delivered, msg_1 dead, msg_2 and
    msg_3 failed with retries at T0 + 300 and T0 + 100, msg_4 still pending (due at T0).
    Returns each alert's delivery id (to the first hook)."""
    url = "http://a.test/feed"
    store.sync_feeds([FeedSpec(url, "a", 600)], T0)
    made = [make_item(str(i)) for i in range(5)]
    alerts = [
        NewAlert(f"msg_{i}", "r", item, {"n": i}, hooks, T0 - 10 + i) for i, item in enumerate(made)
    ]
    record_poll(store, url, ok_update(), made, alerts, T0)
    jobs = store.claim_due_deliveries(T0, owner="me", lease=60, webhooks=[hooks[0]], limit=4)
    claimed = {job.alert_id: job for job in jobs}
    outcomes: dict[str, tuple[DeliveryState, float | None]] = {
        "msg_0": ("delivered", None),
        "msg_1": ("dead", None),
        "msg_2": ("failed", T0 + 300),
        "msg_3": ("failed", T0 + 100),
    }
    for alert_id, (state, next_at) in outcomes.items():
        record_delivery(
            store,
            claimed[alert_id],
            state=state,
            attempts=2,
            next_attempt_at=next_at,
            last_error=None if state == "delivered" else "HTTP 503",
            last_status=200 if state == "delivered" else 503,
        )
    return {alert_id: job.delivery_id for alert_id, job in claimed.items()}


def test_a_recovery_makes_the_backlog_due_now_and_nothing_else(store: Store) -> None:
    backlog(store, hooks=("h", "k"))
    for job in store.claim_due_deliveries(T0, owner="me", lease=60, webhooks=["k"], limit=5):
        record_delivery(
            store, job, state="failed", attempts=1, next_attempt_at=T0 + 50,
            last_error="HTTP 500", last_status=500,
        )  # fmt: skip
    assert store.release_backlog("h", T0 + 1) == 2  # msg_2, msg_3: not the dead, delivered
    assert store.release_backlog("h", T0 + 1) == 0  # nothing left waiting
    jobs = store.claim_due_deliveries(T0 + 1, owner="me", lease=60, webhooks=["h"])
    # Oldest alert first, with msg_4 that was due all along; attempts are kept.
    assert [(j.alert_id, j.attempts) for j in jobs] == [("msg_2", 2), ("msg_3", 2), ("msg_4", 0)]
    states = {(r.alert_id, r.webhook): r.state for r in store.list_deliveries(limit=100)}
    assert states[("msg_1", "h")] == "dead"
    assert store.due_webhooks(T0 + 1) == set()  # k's backlog is k's own
    assert store.due_webhooks(T0 + 50) == {"k"}


def test_a_held_webhook_is_neither_due_nor_claimed_nor_probed_until_the_hold_ends(
    store: Store,
) -> None:
    backlog(store, hooks=("h", "k"))
    store.hold_webhook("h", T0 + 3600)
    assert store.due_webhooks(T0 + 1) == {"k"}
    assert store.claim_due_deliveries(T0 + 1, owner="me", lease=60, webhooks=["h"]) == []
    assert store.claim_probe(T0 + 1, owner="me", lease=60, webhook="h") is None
    assert store.disabled_webhooks() == {}  # held is not disabled
    assert store.next_delivery_due() == T0 - 10  # k's deliveries are due
    for job in store.claim_due_deliveries(T0 + 1, owner="me", lease=60, webhooks=["k"]):
        record_delivery(
            store, job, state="delivered", attempts=1, next_attempt_at=None,
            last_error=None, last_status=200, delivered_at=T0 + 1,
        )  # fmt: skip
    assert store.next_delivery_due() == T0 + 3600  # h's, once its hold ends
    store.hold_webhook("h", T0 + 60)  # the latest answer's Retry-After counts
    assert store.due_webhooks(T0 + 59) == set()
    assert store.due_webhooks(T0 + 60) == {"h"}
    jobs = store.claim_due_deliveries(T0 + 60, owner="me", lease=60, webhooks=["h"])
    assert [j.alert_id for j in jobs] == ["msg_4"]
    store.disable_webhook("h", "HTTP 410", T0 + 61)
    assert store.disabled_webhooks() == {"h": "HTTP 410"}


def test_a_probe_takes_the_oldest_waiting_delivery_before_it_is_due(store: Store) -> None:
    backlog(store)
    [pending] = store.claim_due_deliveries(T0, owner="me", lease=60, webhooks=["h"])
    assert pending.alert_id == "msg_4"
    probe = store.claim_probe(T0 + 1, owner="me", lease=60, webhook="h")
    assert probe is not None
    assert (probe.alert_id, probe.attempts) == ("msg_2", 2)  # oldest, though due at T0 + 300
    probe = store.claim_probe(T0 + 1, owner="me", lease=60, webhook="h")
    assert probe is not None
    assert probe.alert_id == "msg_3"  # msg_2 is leased now
    assert store.claim_probe(T0 + 1, owner="me", lease=60, webhook="h") is None
    assert store.claim_probe(T0 + 1, owner="me", lease=60, webhook="other") is None
    store.record_deliveries([], release=[probe])  # a failed probe: untouched
    records = {r.alert_id: r for r in store.list_deliveries(limit=100)}
    assert (records["msg_3"].attempts, records["msg_3"].next_attempt_at) == (2, T0 + 100)
