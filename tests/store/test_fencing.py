"""Fencing tokens: work taken over from a stalled instance is never committed twice.

Every claim and take-over bumps the row's ``lease_token``; a poll or a delivery outcome
written under a token that is no longer the row's current one is refused whole.
"""

from __future__ import annotations

from sqlalchemy import func, select

from monitor.models import (
    DeliveryJob,
    DeliveryResult,
    DeliveryState,
    FeedSpec,
    FeedState,
    FeedUpdate,
    PollRecord,
)
from monitor.store import Store
from monitor.store.schema import alerts, items
from tests.store.records import T0, make_alert, make_item, ok_update, read, record_poll

URL = "http://a.test/feed"
SILENT = 30.0  # the take-over threshold used here: three 10 s heartbeats


def stalled_and_taken_over(store: Store) -> tuple[FeedState, FeedState]:
    """``a`` claims the feed, stops beating and is taken over; ``b`` claims it next.
    Returns both claims."""
    store.sync_feeds([FeedSpec(URL, "a", 600)], T0)
    store.heartbeat("a", "0", T0)
    [stale] = store.claim_due_feeds(T0, owner="a", lease=3600)
    store.heartbeat("b", "0", T0 + 40)
    assert store.take_over_stale(T0 + 40, silent_for=SILENT) == ["a"]
    [current] = store.claim_due_feeds(T0 + 40, owner="b", lease=60)
    return stale, current


def claimed_delivery(store: Store, owner: str, now: float) -> DeliveryJob:
    [job] = store.claim_due_deliveries(now, owner=owner, lease=3600, webhooks=["h"])
    return job


def held(store: Store, job: DeliveryJob, now: float) -> bool:
    return store.held_deliveries([job], now) == {job.delivery_id}


def result(job: DeliveryJob, state: DeliveryState, now: float) -> DeliveryResult:
    """An attempt's outcome under ``job``'s claim: delivered, or failed (a retry)."""
    delivered = state == "delivered"
    return DeliveryResult(
        job.delivery_id,
        state,
        job.attempts + 1,
        None if delivered else now + 60,
        None if delivered else "timed out",
        200 if delivered else None,
        now if delivered else None,
        job.lease_token,
    )


def test_every_claim_and_take_over_bumps_the_token(store: Store) -> None:
    store.sync_feeds([FeedSpec(URL, "a", 600)], T0)
    assert store.feed_states()[0].lease_token == 0  # never claimed
    stale, current = stalled_and_taken_over(store)
    # The claim bumped it, the take-over bumped it, the next claim bumped it again.
    assert (stale.lease_token, current.lease_token) == (1, 3)
    item = make_item("1")
    record_poll(store, URL, ok_update(), [item], [make_alert("msg_1", item)], T0, 3)
    store.heartbeat("c", "0", T0 + 40)
    first = claimed_delivery(store, "c", T0 + 40)
    store.release_leases("c")  # a restart taking back a dead local process's leases
    second = claimed_delivery(store, "d", T0 + 41)
    assert (first.lease_token, second.lease_token) == (1, 3)
    assert store.feed_states()[0].lease_token == 3  # a recorded poll ends the lease as is


def test_a_poll_under_a_stale_claim_writes_nothing(store: Store, store_url: str) -> None:
    stale, current = stalled_and_taken_over(store)
    late, fresh = make_item("late"), make_item("fresh")
    now_update = FeedUpdate("ok", T0 + 45, T0 + 645, 600, 0, True, etag='"b"')
    commit = record_poll(
        store, URL, now_update, [fresh], [], T0 + 45, current.lease_token
    )  # the new holder's poll
    assert (commit.refused, commit.new_items) == (False, 1)
    # The stalled instance wakes up and commits the poll it made before its pause.
    woke_update = FeedUpdate("ok", T0 + 50, T0 + 100, 50, 0, True, etag='"a"')
    refused = record_poll(
        store, URL, woke_update, [late], [make_alert("msg_late", late)], T0 + 50, stale.lease_token
    )
    assert refused.refused
    assert (refused.new_items, refused.alert_ids, refused.deliveries) == (0, (), 0)
    assert store.unseen(URL, [late]) == [late]
    assert read(store_url, select(func.count()).select_from(alerts)) == 0
    assert store.delivery_counts() == {}
    [state] = store.feed_states()
    # The feed's row is the new holder's poll: no regression of its schedule or counts.
    assert (state.etag, state.next_poll_at, state.last_polled_at) == ('"b"', T0 + 645, T0 + 45)
    assert (state.items_seen, state.lease_token) == (1, current.lease_token)


def test_a_stale_poll_is_refused_even_before_anyone_claims_the_feed(store: Store) -> None:
    store.sync_feeds([FeedSpec(URL, "a", 600)], T0)
    store.heartbeat("a", "0", T0)
    [stale] = store.claim_due_feeds(T0, owner="a", lease=3600)
    store.take_over_stale(T0 + 40, silent_for=SILENT)
    item = make_item("1")
    assert record_poll(store, URL, ok_update(), [item], [], T0 + 41, stale.lease_token).refused
    assert store.feed_states()[0].status == "new"  # still due: the next claim polls it


def test_a_refused_poll_does_not_hold_back_the_others_of_its_transaction(
    store: Store, store_url: str
) -> None:
    other = "http://b.test/f"
    stale, _ = stalled_and_taken_over(store)
    store.sync_feeds([FeedSpec(URL, "a", 600), FeedSpec(other, "b", 600)], T0 + 40)
    [mine] = store.claim_due_feeds(T0 + 40, owner="b", lease=60, urls=[other])
    one, two = make_item("1"), make_item("2", other)
    commits = store.record_polls(
        [
            PollRecord(URL, ok_update(), [one], [], T0 + 50, stale.lease_token),
            PollRecord(other, ok_update(), [two], [], T0 + 50, mine.lease_token),
        ]
    )
    assert [(c.refused, c.new_items) for c in commits] == [(True, 0), (False, 1)]
    assert read(store_url, select(func.count()).select_from(items)) == 1


def one_delivery(store: Store) -> None:
    store.sync_feeds([FeedSpec(URL, "a", 600)], T0)
    item = make_item("1")
    record_poll(store, URL, ok_update(), [item], [make_alert("msg_1", item)], T0)


def test_a_stale_outcome_never_flips_a_delivered_row_back(store: Store) -> None:
    one_delivery(store)
    store.heartbeat("a", "0", T0)
    stale = claimed_delivery(store, "a", T0)
    assert held(store, stale, T0 + 1)
    store.heartbeat("b", "0", T0 + 40)
    store.take_over_stale(T0 + 40, silent_for=SILENT)
    assert not held(store, stale, T0 + 40)  # taken over: no longer a's to send
    current = claimed_delivery(store, "b", T0 + 40)
    assert held(store, current, T0 + 41)
    assert store.record_deliveries([result(current, "delivered", T0 + 41)]) == []
    # The stalled instance wakes up: its send timed out during the pause.
    assert store.record_deliveries([result(stale, "failed", T0 + 50)]) == [stale.delivery_id]
    [row] = store.list_deliveries()
    assert (row.state, row.attempts, row.delivered_at, row.last_status) == (
        "delivered",
        1,
        T0 + 41,
        200,
    )
    assert store.delivery_counts() == {"delivered": 1}


def test_a_stale_release_leaves_the_new_holders_claim_alone(store: Store) -> None:
    one_delivery(store)
    store.heartbeat("a", "0", T0)
    stale = claimed_delivery(store, "a", T0)
    store.heartbeat("b", "0", T0 + 40)
    store.take_over_stale(T0 + 40, silent_for=SILENT)
    current = claimed_delivery(store, "b", T0 + 40)
    assert store.record_deliveries([], release=[stale]) == [stale.delivery_id]
    # Still b's: no third instance claims it and sends it beside b.
    assert store.claim_due_deliveries(T0 + 41, owner="c", lease=60, webhooks=["h"]) == []
    assert held(store, current, T0 + 41)
    assert store.record_deliveries([], release=[current]) == []
    assert not held(store, current, T0 + 41)  # given back
    assert claimed_delivery(store, "c", T0 + 42).lease_token == current.lease_token + 1


def test_only_the_stale_outcomes_of_a_batch_are_refused(store: Store) -> None:
    store.sync_feeds([FeedSpec(URL, "a", 600)], T0)
    made = [make_item(str(i)) for i in range(3)]
    record_poll(
        store, URL, ok_update(), made, [make_alert(f"msg_{i}", m) for i, m in enumerate(made)], T0
    )
    jobs = store.claim_due_deliveries(T0, owner="a", lease=60, webhooks=["h"])
    stale = jobs[1]
    store.replay(T0 + 1, alert_id=stale.alert_id)  # un-leased...
    [again] = store.claim_due_deliveries(T0 + 2, owner="b", lease=60, webhooks=["h"])  # ...taken
    refused = store.record_deliveries(
        [result(jobs[0], "delivered", T0 + 3), result(stale, "delivered", T0 + 3)],
        release=[jobs[2]],
    )
    assert refused == [stale.delivery_id]
    assert again.delivery_id == stale.delivery_id
    assert store.delivery_counts() == {"delivered": 1, "pending": 2}


def test_an_expired_claim_is_not_held(store: Store) -> None:
    one_delivery(store)
    [job] = store.claim_due_deliveries(T0, owner="a", lease=60, webhooks=["h"])
    assert held(store, job, T0 + 59)
    assert not held(store, job, T0 + 60)
