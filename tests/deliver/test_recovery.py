"""After an outage, against real local consumers (sockets) and a real SQLite outbox: a
recovery releases the backlog, early probes find the recovery without using up retries,
``monitor once`` run again delivers everything, a Retry-After holds the whole endpoint (across
a restart too), and an attempt that raises is a recorded failure, retried.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
from typing import Any

import pytest

from monitor.core.clock import SYSTEM_CLOCK
from monitor.deliver import http_target
from monitor.deliver.sender import Sender
from monitor.documents.render import render
from monitor.models import DeliveryOutcome
from monitor.runtime.compose import open_app
from monitor.store import Store
from tests.deliver.consumer import (
    SECRET,
    T0,
    Consumer,
    Reply,
    SettableWall,
    add_alerts,
    deliveries,
    hook,
    make_config,
    make_sender,
    real_wall,
    rounds,
    start,
)
from tests.deliver.mock_consumers import MockNetwork

# Retries far past every test's end: only a recovery delivers a held alert in time.
FAR_SCHEDULE = [0, 0.2, 300, 300]


def real_time_sender(store: Store, *hooks: dict[str, Any]) -> Sender:
    """A sender on the real clock, as the daemon runs it (signatures checked against it)."""
    return Sender(
        make_config(*hooks), store, owner="test", clock=SYSTEM_CLOCK, rng=random.Random(7)
    )


@pytest.mark.slow
def test_held_alerts_go_out_within_moments_of_the_recovery_each_once(
    store: Store, consumers: list[Consumer]
) -> None:
    began = time.monotonic()
    up_at = began + 1.5
    consumer = start(
        consumers,
        secrets=(SECRET,),
        script=lambda n: Reply(503 if time.monotonic() < up_at else 204),
    )
    settings = {"retry_schedule": FAR_SCHEDULE, "breaker_cooldown": 0.3, "failure_threshold": 3}
    sender = real_time_sender(store, hook("h", consumer.url(), concurrency=2, **settings))
    created: list[str] = []
    delivered: dict[str, float] = {}

    async def daemon() -> None:
        """Delivery rounds every 50 ms, as ticks and wakes do; four alerts made in the outage."""
        try:
            while time.monotonic() < up_at + 3 and len(delivered) < 4:
                if len(created) < 4 and time.monotonic() >= began + 0.3 * len(created):
                    prefix = f"a{len(created)}_"
                    created.extend(
                        await asyncio.to_thread(add_alerts, store, 1, ("h",), prefix=prefix)
                    )
                for outcome in await sender.deliver_due():
                    if outcome.result == "delivered":
                        delivered[outcome.alert_id] = time.monotonic()
                await asyncio.sleep(0.05)
        finally:
            await sender.aclose()

    asyncio.run(daemon())
    assert consumer.rejected == []
    assert sorted(consumer.ids()) == sorted(created)  # every one, each once, under its id
    assert len(created) == 4
    assert max(delivered.values()) - up_at < 2.0  # not the 300 s its retry waited for
    records = deliveries(store)
    assert all(records[a].state == "delivered" for a in created)
    # Some had failed twice, so their next try was 300 s away: the recovery released them.
    assert any(records[a].attempts == 3 for a in created)


def test_early_probes_of_a_dead_endpoint_leave_the_retry_schedule_alone(
    store: Store, consumers: list[Consumer]
) -> None:
    consumer = start(consumers, script=lambda n: Reply(503))
    settings = {"retry_schedule": FAR_SCHEDULE, "breaker_cooldown": 0.1, "failure_threshold": 2}
    sender = real_time_sender(store, hook("h", consumer.url(), **settings))
    ids = add_alerts(store, 2, ("h",))

    async def daemon() -> list[DeliveryOutcome]:
        outcomes: list[DeliveryOutcome] = []
        try:
            ends = time.monotonic() + 1.2
            while time.monotonic() < ends:
                outcomes += await sender.deliver_due()
                await asyncio.sleep(0.05)
        finally:
            await sender.aclose()
        return outcomes

    outcomes = asyncio.run(daemon())
    scheduled = 2 * 2  # two alerts, attempts at 0 and 0.2 s; the next at 300 s
    assert consumer.requests > scheduled  # probes went out meanwhile
    assert len([o for o in outcomes if o.result == "retry"]) == consumer.requests
    records = deliveries(store)
    assert [(records[a].state, records[a].attempts) for a in ids] == [("failed", 2)] * 2


def test_monitor_once_run_again_after_an_outage_delivers_every_held_alert(
    tmp_path: Path, store: Store, consumers: list[Consumer]
) -> None:
    up = False
    consumer = start(consumers, secrets=(SECRET,), script=lambda n: Reply(204 if up else 503))
    config = make_config(
        hook("h", consumer.url(), retry_schedule=FAR_SCHEDULE),
        state=f"sqlite:///{tmp_path}/state.db",  # the ``store`` fixture's database
    )

    async def once(bound: float) -> list[DeliveryOutcome]:
        """``monitor once``'s delivery: a fresh process (sender, breakers) each run."""
        async with open_app(config) as app:
            return await app.drain_deliveries(bound)

    twice_tried = add_alerts(store, 2, ("h",), prefix="early")
    asyncio.run(once(0.6))  # tried at 0 s and 0.2 s: the next try is 300 s away
    once_tried = add_alerts(store, 2, ("h",), prefix="late")
    asyncio.run(once(0))  # tried once: the next try is 0.2 s away
    records = deliveries(store)
    assert [records[a].attempts for a in twice_tried + once_tried] == [2, 2, 1, 1]
    time.sleep(0.3)
    up = True
    outcomes = asyncio.run(once(0))
    assert sorted(o.alert_id for o in outcomes if o.result == "delivered") == sorted(
        twice_tried + once_tried
    )
    assert sorted(consumer.ids()) == sorted(twice_tried + once_tried)
    assert consumer.rejected == []


def test_retry_after_holds_the_whole_endpoint_across_a_restart(
    store: Store, consumers: list[Consumer]
) -> None:
    consumer = start(consumers, script=lambda n: Reply(429, {"retry-after": "3600"}))
    # A breaker that would probe every 0.1 s, and an early probe each time: the hold wins.
    hooks = hook("h", consumer.url(), concurrency=1, failure_threshold=1, breaker_cooldown=0.1)
    wall = real_wall()
    began = wall.now
    ids = add_alerts(store, 3, ("h",))
    sender = make_sender(store, wall, hooks)

    async def daemon(seconds: float) -> None:
        try:
            ends = time.monotonic() + seconds
            while time.monotonic() < ends:
                await sender.deliver_due()
                await asyncio.sleep(0.05)
        finally:
            await sender.aclose()

    asyncio.run(daemon(1.0))
    assert consumer.requests == 1
    records = deliveries(store)
    assert [(records[a].state, records[a].attempts) for a in ids] == [
        ("failed", 1),
        ("pending", 0),
        ("pending", 0),
    ]
    wall.now = began + 3599  # a restart within the hour: the stored hold is honoured
    sender = make_sender(store, wall, hooks)
    asyncio.run(daemon(0.3))
    assert consumer.requests == 1
    wall.now = began + 3601  # over: the endpoint gets requests again
    rounds(make_sender(store, wall, hooks))
    assert consumer.requests == 2


def test_a_renderer_that_raises_is_a_recorded_failure_then_retried(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = 0

    def flaky_render(fmt: str, payload: dict[str, Any]) -> tuple[str, bytes]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise KeyError("item")
        return render(fmt, payload)

    monkeypatch.setattr(http_target, "render", flaky_render)
    net = MockNetwork()
    consumer = net.add("h", secrets=(SECRET,))
    wall = SettableWall()
    (alert,) = add_alerts(store, 1, ("h",))
    config = hook("h", consumer.url())
    (first,) = rounds(make_sender(store, wall, config, transport=net.transport))
    assert [o.result for o in first] == ["retry"]
    record = deliveries(store)[alert]
    assert (record.state, record.attempts) == ("failed", 1)
    assert record.last_error == "unexpected KeyError: 'item'"
    assert consumer.requests == 0
    wall.now = T0 + 10
    (second,) = rounds(make_sender(store, wall, config, transport=net.transport))
    assert [o.result for o in second] == ["delivered"]
    assert consumer.ids() == [alert]
