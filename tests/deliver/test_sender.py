"""The sender against real local consumers and a real SQLite outbox."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from monitor import __version__
from monitor.deliver import sender as sender_module
from monitor.deliver.sender import Sender
from monitor.models import DeliveryOutcome, DeliveryRecord
from monitor.store import Store
from tests.deliver.consumer import (
    OLD_SECRET,
    SECRET,
    T0,
    Clock,
    Consumer,
    Reply,
    add_alerts,
    make_config,
)
from tests.e2e.servers import free_port

SCHEMA = json.loads(
    (Path(__file__).parents[2] / "monitor/documents/schema/alert.v1.json").read_text()
)


@pytest.fixture
def consumers() -> Iterator[list[Consumer]]:
    """Every consumer a test starts, closed afterwards."""
    started: list[Consumer] = []
    try:
        yield started
    finally:
        for consumer in started:
            consumer.close()


def start(consumers: list[Consumer], **kwargs: Any) -> Consumer:
    consumer = Consumer(**kwargs)
    consumers.append(consumer)
    return consumer


def hook(name: str, url: str, **settings: Any) -> dict[str, Any]:
    return {"name": name, "url": url, "secret": [SECRET], **settings}


def rounds(sender: Sender, count: int = 1) -> list[list[DeliveryOutcome]]:
    async def run() -> list[list[DeliveryOutcome]]:
        try:
            return [await sender.deliver_due() for _ in range(count)]
        finally:
            await sender.aclose()

    return asyncio.run(run())


def make_sender(store: Store, clock: Clock, *hooks: dict[str, Any]) -> Sender:
    return Sender(make_config(*hooks), store, owner="test", clock=clock, rng=random.Random(7))


def deliveries(store: Store, webhook: str | None = None) -> dict[str, DeliveryRecord]:
    return {r.alert_id: r for r in store.list_deliveries(limit=1000, webhook=webhook)}


def test_down_consumer_is_retried_5s_later_and_gets_the_same_webhook_id(
    store: Store, consumers: list[Consumer]
) -> None:
    port = free_port()
    clock = Clock()
    (alert,) = add_alerts(store, 1, ("h",))
    config = hook("h", f"http://127.0.0.1:{port}/hook")
    (first,) = rounds(make_sender(store, clock, config))
    assert [o.result for o in first] == ["retry"]
    record = deliveries(store)[alert]
    assert (record.state, record.attempts, record.last_status) == ("failed", 1, None)
    assert record.last_error
    assert "Connect" in record.last_error
    assert record.next_attempt_at is not None
    assert 5 * 0.85 <= record.next_attempt_at - T0 <= 5 * 1.15  # 5 s with jitter
    consumer = start(consumers, secrets=(SECRET,), port=port)
    clock.now = T0 + 1
    (early,) = rounds(make_sender(store, clock, config))
    assert early == []
    assert consumer.requests == 0
    clock.now = record.next_attempt_at
    (second,) = rounds(make_sender(store, clock, config))
    assert [o.result for o in second] == ["delivered"]
    assert consumer.ids() == [alert]
    assert (deliveries(store)[alert].state, deliveries(store)[alert].attempts) == ("delivered", 2)


def test_500_then_200_and_the_payload_matches_the_schema(
    store: Store, consumers: list[Consumer]
) -> None:
    consumer = start(consumers, secrets=(SECRET,), script=lambda n: Reply(500 if n == 1 else 200))
    clock = Clock()
    (alert,) = add_alerts(store, 1, ("h",))
    sender = make_sender(store, clock, hook("h", consumer.url()))
    (first,) = rounds(sender)
    assert [(o.result, o.status_code) for o in first] == [("retry", 500)]
    assert deliveries(store)[alert].last_error == "HTTP 500"
    clock.now = T0 + 10
    (second,) = rounds(make_sender(store, clock, hook("h", consumer.url())))
    assert [(o.result, o.status_code) for o in second] == [("delivered", 200)]
    assert consumer.requests == 2
    assert consumer.ids() == [alert]
    jsonschema.validate(consumer.received[0][1], SCHEMA)


def test_retry_after_on_429_is_honoured(store: Store, consumers: list[Consumer]) -> None:
    consumer = start(consumers, script=lambda n: Reply(429, {"retry-after": "120"}))
    clock = Clock()
    (alert,) = add_alerts(store, 1, ("h",))
    rounds(make_sender(store, clock, hook("h", consumer.url())))
    record = deliveries(store)[alert]
    assert (record.state, record.last_status) == ("failed", 429)
    assert record.next_attempt_at is not None
    assert record.next_attempt_at - T0 >= 120


def test_a_consumer_slower_than_the_timeout_is_a_failure(
    store: Store, consumers: list[Consumer]
) -> None:
    consumer = start(consumers, script=lambda n: Reply(204, delay=1.5))
    clock = Clock()
    (alert,) = add_alerts(store, 1, ("h",))
    (outcomes,) = rounds(make_sender(store, clock, hook("h", consumer.url(), timeout=0.3)))
    assert [o.result for o in outcomes] == ["retry"]
    assert deliveries(store)[alert].last_error == "timed out after 0.3s"


def test_410_disables_that_webhook_and_others_keep_going(
    store: Store, consumers: list[Consumer]
) -> None:
    gone = start(consumers, script=lambda n: Reply(410))
    fine = start(consumers, secrets=(SECRET,))
    clock = Clock()
    ids = add_alerts(store, 3, ("gone", "fine"))
    hooks = (hook("gone", gone.url(), concurrency=1), hook("fine", fine.url()))
    _first, second = rounds(make_sender(store, clock, *hooks), 2)
    assert sorted(fine.ids()) == ids
    assert gone.requests == 1  # the rest of its batch is given back, not sent
    assert store.disabled_webhooks().keys() == {"gone"}
    states = sorted((r.state, r.attempts) for r in deliveries(store, "gone").values())
    assert states == [("failed", 1), ("pending", 0), ("pending", 0)]
    assert second == []  # a disabled webhook is not claimed
    store.enable_webhook("gone")
    clock.now = T0 + 1
    rounds(make_sender(store, clock, *hooks))
    assert gone.requests == 2  # re-enabled: it is tried again (and gone again)


def test_a_redirect_is_a_failure_and_is_not_followed(
    store: Store, consumers: list[Consumer]
) -> None:
    target = start(consumers)
    redirect = start(consumers, script=lambda n: Reply(307, {"location": target.url()}))
    clock = Clock()
    (alert,) = add_alerts(store, 1, ("h",))
    (outcomes,) = rounds(make_sender(store, clock, hook("h", redirect.url())))
    assert [(o.result, o.status_code) for o in outcomes] == [("retry", 307)]
    assert target.requests == 0
    error = deliveries(store)[alert].last_error
    assert error
    assert error.startswith("HTTP 307 redirect to ")
    assert "not followed" in error


def test_a_host_resolving_to_a_refused_address_is_a_failure_not_a_crash(
    store: Store, consumers: list[Consumer]
) -> None:
    consumer = start(consumers)
    clock = Clock()
    (alert,) = add_alerts(store, 1, ("h",))
    # A name, not an IP: the SSRF guard refuses it when connecting, after it resolves.
    url = consumer.url().replace("127.0.0.1", "localhost")
    config = make_config(hook("h", url), network={"allow_private": False})
    (outcomes,) = rounds(Sender(config, store, owner="test", clock=clock, rng=random.Random(7)))
    assert [o.result for o in outcomes] == ["retry"]
    assert consumer.requests == 0
    error = deliveries(store)[alert].last_error
    assert error
    assert error.startswith("refused: localhost resolves to ")


def test_sends_go_straight_to_the_consumer_never_through_an_environment_proxy(
    store: Store, consumers: list[Consumer], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A proxy would make the connection itself, out of the SSRF guard's sight.
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{free_port()}")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    consumer = start(consumers)
    clock = Clock()
    ids = add_alerts(store, 2, ("h",))
    (outcomes,) = rounds(make_sender(store, clock, hook("h", consumer.url())))
    assert [o.result for o in outcomes] == ["delivered"] * 2
    assert sorted(consumer.ids()) == ids
    assert consumer.user_agents == {f"news-monitor/{__version__}"}


def test_dead_letter_once_the_schedule_is_used_up(store: Store, consumers: list[Consumer]) -> None:
    consumer = start(consumers, script=lambda n: Reply(503))
    clock = Clock()
    (alert,) = add_alerts(store, 1, ("h",))
    config = hook("h", consumer.url(), retry_schedule=[0, 1, 1], failure_threshold=10)
    results = []
    for step in range(4):
        clock.now = T0 + 2 * step
        (outcomes,) = rounds(make_sender(store, clock, config))
        results += [o.result for o in outcomes]
    assert results == ["retry", "retry", "dead"]
    record = deliveries(store)[alert]
    assert (record.state, record.attempts, record.next_attempt_at) == ("dead", 3, None)
    assert consumer.requests == 3


def test_breaker_pauses_a_dead_endpoint_while_a_healthy_one_is_served(
    store: Store, consumers: list[Consumer]
) -> None:
    dead = start(consumers, script=lambda n: Reply(503, delay=0.05))
    healthy = start(consumers, secrets=(SECRET,))
    clock = Clock()
    ids = add_alerts(store, 30, ("dead", "healthy"))
    hooks = (
        hook("dead", dead.url(), concurrency=4, failure_threshold=2, breaker_cooldown=0.5),
        hook("healthy", healthy.url(), concurrency=4),
    )
    sender = make_sender(store, clock, *hooks)

    async def scenario() -> tuple[list[DeliveryOutcome], int, int, int]:
        try:
            first = await sender.deliver_due()
            tried = dead.requests
            await sender.deliver_due()  # open: nothing goes out
            while_open = dead.requests - tried
            await asyncio.sleep(0.6)  # cooldown over: half-open
            await sender.deliver_due()
            return first, tried, while_open, dead.requests - tried - while_open
        finally:
            await sender.aclose()

    first, tried, while_open, probes = asyncio.run(scenario())
    assert sorted(healthy.ids()) == ids  # all 30 in the very first round
    dead_results = [o.result for o in first if o.webhook == "dead"]
    # Only what was in flight or queued before it opened went out, never the whole burst.
    assert 2 <= tried <= 4 + 2
    assert dead_results.count("retry") == tried
    assert dead_results.count("paused") == 30 - tried
    assert while_open == 0
    assert probes == 1
    attempts = [r.attempts for r in deliveries(store, "dead").values()]
    assert sum(attempts) == tried + probes  # paused deliveries kept their retry budget


def test_per_webhook_concurrency_limit(store: Store, consumers: list[Consumer]) -> None:
    consumer = start(consumers, script=lambda n: Reply(204, delay=0.2))
    clock = Clock()
    add_alerts(store, 12, ("h",))
    (outcomes,) = rounds(make_sender(store, clock, hook("h", consumer.url(), concurrency=3)))
    assert [o.result for o in outcomes] == ["delivered"] * 12
    assert consumer.max_in_flight == 3


def test_sends_share_one_connection_per_concurrency_slot(
    store: Store, consumers: list[Consumer]
) -> None:
    # A one-connection client per concurrent send (httpcore's pool scan stays O(1)); the
    # semaphore caps how many exist, and they are reused, kept alive, across batches.
    consumer = start(consumers, script=lambda n: Reply(204, delay=0.05))
    clock = Clock()
    add_alerts(store, 40, ("h",))  # more than one batch at concurrency 2 (32)
    sender = make_sender(store, clock, hook("h", consumer.url(), concurrency=2))
    first, second = rounds(sender, 2)
    assert [o.result for o in first] == ["delivered"] * 40
    assert second == []
    assert consumer.max_in_flight == 2
    assert len(consumer.connections) == 2
    assert sender._clients.idle() == 0  # closed by aclose


def test_one_webhook_gets_its_alerts_oldest_first(store: Store, consumers: list[Consumer]) -> None:
    consumer = start(consumers)
    clock = Clock(T0 + 100)
    created = [T0 + offset for offset in random.Random(3).sample(range(40), 20)]
    ids = add_alerts(store, 20, ("h",), created=created)
    rounds(make_sender(store, clock, hook("h", consumer.url(), concurrency=1)), 2)
    oldest_first = [alert for _, alert in sorted(zip(created, ids, strict=True))]
    assert consumer.ids() == oldest_first


def test_every_secret_signs_so_rotation_has_no_gap(store: Store, consumers: list[Consumer]) -> None:
    new_only = start(consumers, secrets=(SECRET,))
    old_only = start(consumers, secrets=(OLD_SECRET,))
    stranger = start(consumers, secrets=("whsec_" + "c29tZW9uZS1lbHNlcy1zZWNyZXQta2V5LWhlcmU=",))
    clock = Clock()
    ids = add_alerts(store, 2, ("new", "old", "stranger"))
    both = [SECRET, OLD_SECRET]
    rounds(
        make_sender(
            store,
            clock,
            hook("new", new_only.url(), secret=both),
            hook("old", old_only.url(), secret=both),
            hook("stranger", stranger.url(), secret=both),
        )
    )
    assert sorted(new_only.ids()) == ids
    assert sorted(old_only.ids()) == ids
    assert new_only.rejected == []
    assert old_only.rejected == []
    assert stranger.ids() == []
    assert len(stranger.rejected) == 2


def test_concurrent_rounds_never_run_two_lanes_for_one_webhook(
    store: Store, consumers: list[Consumer]
) -> None:
    consumer = start(consumers, script=lambda n: Reply(204, delay=0.01))
    clock = Clock()
    ids = add_alerts(store, 40, ("h",))
    sender = make_sender(store, clock, hook("h", consumer.url(), concurrency=1))

    async def two_rounds() -> list[list[DeliveryOutcome]]:
        try:
            return list(await asyncio.gather(sender.deliver_due(), sender.deliver_due()))
        finally:
            await sender.aclose()

    first, second = asyncio.run(two_rounds())
    # One round runs the webhook's lane and drains its backlog; the other finds it busy.
    assert sorted([len(first), len(second)]) == [0, 40]
    assert consumer.ids() == ids  # oldest first, each once


def test_a_lane_drains_a_backlog_larger_than_one_batch(
    store: Store, consumers: list[Consumer]
) -> None:
    consumer = start(consumers)
    clock = Clock()
    ids = add_alerts(store, 50, ("h",))  # more than a batch (16 per slot)
    (outcomes,) = rounds(make_sender(store, clock, hook("h", consumer.url(), concurrency=1)))
    assert [o.result for o in outcomes] == ["delivered"] * 50
    assert consumer.ids() == ids


def test_a_send_that_could_outlive_its_claim_is_given_back_not_started(
    store: Store, consumers: list[Consumer], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The lease covers a batch whose every wave times out; a batch slower than its lease
    # (cut short here to 3 waves x 2 s - 2 s = 4 s) must not start a send that could still
    # run when another instance claims the delivery.
    monkeypatch.setattr(sender_module, "BATCH_PER_SLOT", 3)
    monkeypatch.setattr(sender_module, "LEASE_MARGIN", -2.0)
    consumer = start(consumers, script=lambda n: Reply(204, delay=1.2))
    ids = add_alerts(store, 3, ("h",))
    sender = make_sender(store, Clock(), hook("h", consumer.url(), concurrency=1, timeout=2))
    first, second = rounds(sender, 2)
    # The third would start at 2.4 s and could run to 4.4 s: given back, sent next round.
    assert [o.result for o in first] == ["delivered", "delivered", "paused"]
    assert [o.result for o in second] == ["delivered"]
    assert consumer.ids() == ids
    assert deliveries(store)[ids[2]].attempts == 1  # giving back is no attempt


def test_a_stalled_instance_gives_its_claimed_deliveries_back(
    store: Store, consumers: list[Consumer]
) -> None:
    consumer = start(consumers)
    ids = add_alerts(store, 2, ("h",))
    sender = make_sender(store, Clock(), hook("h", consumer.url()))
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
