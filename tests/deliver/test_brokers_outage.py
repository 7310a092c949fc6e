"""A broker outage: failed attempts, retried on the schedule, delivered once the broker is back;
a connection the broker dropped is replaced. Played with a TCP proxy the test cuts and restores.
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from monitor.deliver.sender import Sender
from monitor.models import DeliveryOutcome
from monitor.store import Store
from tests.deliver.broker_services import (
    PORTS,
    Received,
    TcpProxy,
    amqp_queue,
    amqp_url,
    jetstream,
    nats_url,
    redis_stream,
    redis_url,
    target_at,
)
from tests.deliver.consumer import T0, SettableWall, add_alerts, deliveries, make_config, rounds

Target = tuple[dict[str, Any], Callable[[], list[Received]]]


@contextmanager
def broker(key: str, port: int) -> Iterator[Target]:
    """A target of kind ``key`` through 127.0.0.1:``port``, and what reached the broker."""
    if key == "redis":
        with redis_stream() as (stream, read):
            yield {"redis": {"url": redis_url(port), "stream": stream}}, read
    elif key == "amqp":
        with amqp_queue() as queue:
            amqp = {"url": amqp_url(port), "exchange": queue.exchange, "routing_key": "alerts"}
            yield {"amqp": amqp}, queue.read
    else:
        with jetstream() as js:
            yield {"nats": {"url": nats_url(port), "subject": js.subject}}, js.read


KEYS = pytest.mark.parametrize("key", ["redis", "amqp", "nats"])


def one_round(store: Store, *hooks: dict[str, Any]) -> list[DeliveryOutcome]:
    sender = Sender(make_config(*hooks), store, owner="t", clock=SettableWall().clock())
    (outcomes,) = rounds(sender)
    return outcomes


@KEYS
def test_an_outage_is_retried_and_delivered_once_the_broker_is_back(store: Store, key: str) -> None:
    proxy = TcpProxy(PORTS[key])
    wall = SettableWall()
    try:
        with broker(key, proxy.port) as (target, read):
            config = make_config({"name": "b", **target, "timeout": 5})
            sender = Sender(config, store, owner="t", clock=wall.clock(), rng=random.Random(7))
            (first,) = add_alerts(store, 1, ("b",))

            async def run() -> list[list[DeliveryOutcome]]:
                try:
                    up = await sender.deliver_due()  # connects, delivers `first`
                    proxy.cut()  # the broker goes away under the open connection
                    add_alerts(store, 1, ("b",), prefix="late")
                    down = await sender.deliver_due()
                    retry_at = deliveries(store)["msg_late0000"].next_attempt_at
                    assert retry_at is not None
                    wall.now = retry_at
                    still_down = await sender.deliver_due()
                    proxy.restore()
                    wall.now = deliveries(store)["msg_late0000"].next_attempt_at or T0
                    back = await sender.deliver_due()
                    return [up, down, still_down, back]
                finally:
                    await sender.aclose()

            outcomes = asyncio.run(run())
            received = read()
    finally:
        proxy.close()
    assert [[o.result for o in batch] for batch in outcomes] == [
        ["delivered"],
        ["retry"],
        ["retry"],
        ["delivered"],
    ]
    record = deliveries(store)["msg_late0000"]
    assert (record.state, record.attempts) == ("delivered", 3)
    assert [r.id for r in received] == [first, "msg_late0000"]  # each once
    assert proxy.accepted == 2  # the first connection, and one once the broker was back


@KEYS
def test_an_attempt_error_names_the_broker_not_its_password(store: Store, key: str) -> None:
    canary = "canary-pw-77d0c3"
    dead = {
        "redis": f"redis://default:{canary}@127.0.0.1:9/0",
        "amqp": f"amqp://guest:{canary}@127.0.0.1:9/",
        "nats": f"nats://user:{canary}@127.0.0.1:9",
    }[key]
    field = {"redis": "stream", "amqp": "exchange", "nats": "subject"}[key]
    (alert,) = add_alerts(store, 1, ("b",))
    outcomes = one_round(store, {"name": "b", key: {"url": dead, field: "nm-test.none"}})
    assert [o.result for o in outcomes] == ["retry"]
    error = deliveries(store)[alert].last_error or ""
    assert error.startswith(f"{key}: ")
    assert "127.0.0.1" in error  # readable: which broker could not be reached
    assert canary not in error


@KEYS
def test_a_broker_that_never_answers_is_a_timed_out_attempt(store: Store, key: str) -> None:
    silent = socket.create_server(("127.0.0.1", 0))  # the kernel accepts; nobody answers
    try:
        (alert,) = add_alerts(store, 1, ("b",))
        port = silent.getsockname()[1]
        outcomes = one_round(store, {"name": "b", **target_at(key, port), "timeout": 0.3})
    finally:
        silent.close()
    assert [o.result for o in outcomes] == ["retry"]
    assert deliveries(store)[alert].last_error == f"{key}: timed out after 0.3s"


@KEYS
def test_failures_open_the_breaker_and_end_as_dead_letters(store: Store, key: str) -> None:
    hook = {"name": "b", **target_at(key, 9), "retry_schedule": [0], "failure_threshold": 1}
    first, second = add_alerts(store, 2, ("b",))
    outcomes = one_round(store, {**hook, "concurrency": 1})
    # The first failure opens the circuit: the second delivery is not attempted.
    assert [(o.alert_id, o.result) for o in outcomes] == [(first, "dead"), (second, "paused")]
    records = deliveries(store)
    assert (records[first].state, records[first].attempts) == ("dead", 1)
    assert (records[second].state, records[second].attempts) == ("pending", 0)
