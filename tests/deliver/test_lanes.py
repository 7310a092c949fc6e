"""Lanes: per-webhook concurrency, order, batches, concurrent rounds, and deliveries given
back (a send that could outlive its claim, a stalled instance). On ``httpx.MockTransport``
consumers and a real SQLite outbox.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from monitor.deliver import sender as sender_module
from monitor.models import DeliveryOutcome
from monitor.store import Store
from tests.deliver.consumer import (
    T0,
    Reply,
    SettableWall,
    add_alerts,
    deliveries,
    hook,
    make_sender,
    rounds,
)
from tests.deliver.mock_consumers import MockNetwork


def test_per_webhook_concurrency_limit(store: Store) -> None:
    net = MockNetwork()
    consumer = net.add("h", script=lambda n: Reply(204, delay=0.2))
    add_alerts(store, 12, ("h",))
    config = hook("h", consumer.url(), concurrency=3)
    (outcomes,) = rounds(make_sender(store, SettableWall(), config, transport=net.transport))
    assert [o.result for o in outcomes] == ["delivered"] * 12
    assert consumer.max_in_flight == 3


def test_one_webhook_gets_its_alerts_oldest_first(store: Store) -> None:
    net = MockNetwork()
    consumer = net.add("h")
    created = [T0 + offset for offset in random.Random(3).sample(range(40), 20)]
    ids = add_alerts(store, 20, ("h",), created=created)
    config = hook("h", consumer.url(), concurrency=1)
    rounds(make_sender(store, SettableWall(T0 + 100), config, transport=net.transport), 2)
    oldest_first = [alert for _, alert in sorted(zip(created, ids, strict=True))]
    assert consumer.ids() == oldest_first


def test_concurrent_rounds_never_run_two_lanes_for_one_webhook(store: Store) -> None:
    net = MockNetwork()
    consumer = net.add("h", script=lambda n: Reply(204, delay=0.01))
    ids = add_alerts(store, 40, ("h",))
    config = hook("h", consumer.url(), concurrency=1)
    sender = make_sender(store, SettableWall(), config, transport=net.transport)

    async def two_rounds() -> list[list[DeliveryOutcome]]:
        try:
            return list(await asyncio.gather(sender.deliver_due(), sender.deliver_due()))
        finally:
            await sender.aclose()

    first, second = asyncio.run(two_rounds())
    # One round runs the webhook's lane and drains its backlog; the other finds it busy.
    assert sorted([len(first), len(second)]) == [0, 40]
    assert consumer.ids() == ids  # oldest first, each once


def test_a_lane_drains_a_backlog_larger_than_one_batch(store: Store) -> None:
    net = MockNetwork()
    consumer = net.add("h")
    ids = add_alerts(store, 50, ("h",))  # more than a batch (16 per slot)
    config = hook("h", consumer.url(), concurrency=1)
    (outcomes,) = rounds(make_sender(store, SettableWall(), config, transport=net.transport))
    assert [o.result for o in outcomes] == ["delivered"] * 50
    assert consumer.ids() == ids


@pytest.mark.slow  # waits out a real lease
def test_a_send_that_could_outlive_its_claim_is_given_back_not_started(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The lease covers a batch whose every wave times out; a batch slower than its lease
    # (cut short here to 3 waves x 2 s - 2 s = 4 s) must not start a send that could still
    # run when another instance claims the delivery.
    monkeypatch.setattr(sender_module, "BATCH_PER_SLOT", 3)
    monkeypatch.setattr(sender_module, "LEASE_MARGIN", -2.0)
    net = MockNetwork()
    consumer = net.add("h", script=lambda n: Reply(204, delay=1.2))
    ids = add_alerts(store, 3, ("h",))
    config = hook("h", consumer.url(), concurrency=1, timeout=2)
    sender = make_sender(store, SettableWall(), config, transport=net.transport)
    first, second = rounds(sender, 2)
    # The third would start at 2.4 s and could run to 4.4 s: given back, sent next round.
    assert [o.result for o in first] == ["delivered", "delivered", "paused"]
    assert [o.result for o in second] == ["delivered"]
    assert consumer.ids() == ids
    assert deliveries(store)[ids[2]].attempts == 1  # giving back is no attempt


def test_a_stalled_instance_gives_its_claimed_deliveries_back(store: Store) -> None:
    net = MockNetwork()
    consumer = net.add("h")
    ids = add_alerts(store, 2, ("h",))
    sender = make_sender(store, SettableWall(), hook("h", consumer.url()), transport=net.transport)
    stalled = [True]
    sender.stalled = lambda: stalled[0]

    async def run() -> tuple[list[DeliveryOutcome], list[DeliveryOutcome]]:
        try:
            while_stalled = await sender.deliver_due()
            stalled[0] = False
            return while_stalled, await sender.deliver_due()
        finally:
            await sender.aclose()

    while_stalled, after = asyncio.run(run())
    assert [o.result for o in while_stalled] == ["paused"] * 2
    assert [o.result for o in after] == ["delivered"] * 2
    assert sorted(consumer.ids()) == ids
