"""Broker targets: alerts reach a Redis stream, a RabbitMQ queue and a JetStream stream through
the outbox exactly as they reach a webhook; refusals, the SSRF guard and replay."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from monitor.config import Config
from monitor.deliver.sender import Sender
from monitor.store import Store
from tests.deliver.broker_services import (
    AMQP_PORT,
    NATS_PORT,
    PORTS,
    AmqpQueue,
    JetStream,
    TcpProxy,
    amqp_queue,
    amqp_url,
    jetstream,
    nats_url,
    redis_stream,
    redis_url,
    target_at,
    wait_until,
)
from tests.deliver.consumer import (
    T0,
    Consumer,
    SettableWall,
    add_alerts,
    deliveries,
    make_config,
    rounds,
)


@pytest.fixture
def stream() -> Iterator[tuple[str, Any]]:
    with redis_stream() as made:
        yield made


@pytest.fixture
def queue() -> Iterator[AmqpQueue]:
    with amqp_queue() as made:
        yield made


@pytest.fixture
def js() -> Iterator[JetStream]:
    with jetstream() as made:
        yield made


def sender(store: Store, config: Config, wall: SettableWall | None = None) -> Sender:
    clock = (wall or SettableWall()).clock()
    return Sender(config, store, owner="test", clock=clock, rng=random.Random(7))


def broker_hooks(
    stream: str, queue: AmqpQueue, js: JetStream, **settings: Any
) -> list[dict[str, Any]]:
    return [
        {"name": "stream", "redis": {"url": redis_url(), "stream": stream}, **settings},
        {
            "name": "bus",
            "amqp": {"url": amqp_url(), "exchange": queue.exchange, "routing_key": "alerts"},
            **settings,
        },
        {"name": "jet", "nats": {"url": nats_url(), "subject": js.subject}, **settings},
    ]


def test_alerts_reach_each_broker_as_they_reach_a_webhook(
    store: Store, stream: tuple[str, Any], queue: AmqpQueue, js: JetStream
) -> None:
    name, read_stream = stream
    consumer = Consumer()
    try:
        webhook = {"name": "web", "url": consumer.url(), "format": "cloudevents"}
        config = make_config(webhook, *broker_hooks(name, queue, js))
        ids = add_alerts(store, 3, ("web", "stream", "bus", "jet"))
        (outcomes,) = rounds(sender(store, config))
    finally:
        consumer.close()
    assert sorted(o.result for o in outcomes) == ["delivered"] * 12
    assert {r.state for r in store.list_deliveries(limit=100)} == {"delivered"}
    sent = dict(consumer.received)
    assert sorted(sent) == ids
    for received in (read_stream(), queue.read(), js.read()):
        assert sorted(r.id for r in received) == ids  # each once, its alert id carried
        for message in received:
            assert json.loads(message.body) == sent[message.id]  # the webhook's very payload
            assert message.content_type in (None, "application/cloudevents+json")


def test_a_redis_stream_is_trimmed_to_about_maxlen(store: Store, stream: tuple[str, Any]) -> None:
    name, read_stream = stream
    target = {"name": "s", "redis": {"url": redis_url(), "stream": name, "maxlen": 1}}
    add_alerts(store, 300, ("s",))
    outcomes = rounds(sender(store, make_config(target)), 3)
    assert sum(o.result == "delivered" for round_ in outcomes for o in round_) == 300
    # MAXLEN ~ trims whole radix-tree nodes (100 entries by default): cheap, approximate.
    assert len(read_stream()) <= 100


def test_a_key_of_another_type_refuses_the_xadd(store: Store, stream: tuple[str, Any]) -> None:
    name, _ = stream
    with redis.Redis(host="127.0.0.1", port=PORTS["redis"]) as client:
        client.set(name, "not a stream")
    (alert,) = add_alerts(store, 1, ("s",))
    (outcomes,) = rounds(
        sender(store, make_config({"name": "s", "redis": {"url": redis_url(), "stream": name}}))
    )
    assert [o.result for o in outcomes] == ["retry"]
    assert deliveries(store)[alert].last_error == (
        f"redis: XADD to {name!r} refused: "
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    )


def test_an_unroutable_amqp_message_is_a_failed_attempt(store: Store, queue: AmqpQueue) -> None:
    target = {
        "name": "bus",
        "amqp": {"url": amqp_url(), "exchange": queue.exchange, "routing_key": "nobody.listens"},
    }
    (alert,) = add_alerts(store, 1, ("bus",))
    (outcomes,) = rounds(sender(store, make_config(target)))
    assert [o.result for o in outcomes] == ["retry"]
    record = deliveries(store)[alert]
    assert (record.state, record.attempts, record.last_status) == ("failed", 1, None)
    assert record.last_error == (
        f"amqp: unroutable: no queue is bound to exchange {queue.exchange!r} "
        "for routing key 'nobody.listens'"
    )
    assert queue.read() == []


def test_an_exchange_of_another_type_is_a_failed_attempt_that_says_so(
    store: Store, queue: AmqpQueue
) -> None:
    amqp = {"url": amqp_url(), "exchange": queue.exchange, "exchange_type": "fanout"}
    target = {"name": "bus", "amqp": amqp}  # the test declared the exchange a topic one
    (alert,) = add_alerts(store, 1, ("bus",))
    (outcomes,) = rounds(sender(store, make_config(target)))
    assert [o.result for o in outcomes] == ["retry"]
    error = deliveries(store)[alert].last_error or ""
    assert error.startswith("amqp: ")
    assert "PRECONDITION_FAILED" in error
    assert "inequivalent arg 'type'" in error


def test_a_subject_without_a_stream_is_a_failed_attempt(store: Store, js: JetStream) -> None:
    target = {"name": "jet", "nats": {"url": nats_url(), "subject": js.subject + ".nostream"}}
    (alert,) = add_alerts(store, 1, ("jet",))
    (outcomes,) = rounds(sender(store, make_config(target)))
    assert [o.result for o in outcomes] == ["retry"]
    assert deliveries(store)[alert].last_error == (
        f"nats: no JetStream stream takes subject '{js.subject}.nostream': create one"
    )


def test_a_wrong_amqp_password_never_shows(store: Store, queue: AmqpQueue) -> None:
    canary = "canary-pw-4f1e9a"
    url = amqp_url(password=canary)
    target = {"name": "bus", "amqp": {"url": url, "exchange": queue.exchange}}
    (alert,) = add_alerts(store, 1, ("bus",))
    (outcomes,) = rounds(sender(store, make_config(target)))
    assert [o.result for o in outcomes] == ["retry"]
    error = deliveries(store)[alert].last_error or ""
    assert error.startswith("amqp: ")
    assert "ACCESS_REFUSED" in error
    assert canary not in error


@pytest.mark.parametrize("key", ["redis", "amqp", "nats"])
def test_a_loopback_broker_is_refused_unless_private_is_allowed(store: Store, key: str) -> None:
    proxy = TcpProxy(PORTS[key])
    try:
        (alert,) = add_alerts(store, 1, ("b",))
        target = {"name": "b", **target_at(key, proxy.port)}
        config = make_config(target, network={"allow_private": False})
        (outcomes,) = rounds(sender(store, config))
    finally:
        proxy.close()
    assert [o.result for o in outcomes] == ["retry"]
    assert proxy.accepted == 0  # refused before any connection
    assert deliveries(store)[alert].last_error == (
        f"{key}: refused: 127.0.0.1, a loopback address; "
        "set network.allow_private or network.allow_cidrs to allow it"
    )


def test_a_replay_publishes_again_and_jetstream_drops_the_repeat(
    store: Store, stream: tuple[str, Any], queue: AmqpQueue, js: JetStream
) -> None:
    name, read_stream = stream
    config = make_config(*broker_hooks(name, queue, js))
    (alert,) = add_alerts(store, 1, ("stream", "bus", "jet"))
    wall = SettableWall()
    (first,) = rounds(sender(store, config, wall))
    assert store.replay(T0 + 1, alert_id=alert) == 3
    wall.now = T0 + 1
    (second,) = rounds(sender(store, config, wall))
    assert [o.result for o in first + second] == ["delivered"] * 6
    # At least once: the same alert id twice; consumers deduplicate on it.
    assert [r.id for r in read_stream()] == [alert, alert]
    assert [r.id for r in queue.read()] == [alert, alert]
    assert [r.id for r in js.read()] == [alert]  # Nats-Msg-Id: the server dropped the repeat


def test_one_connection_per_target_reused_then_closed(
    store: Store, queue: AmqpQueue, js: JetStream
) -> None:
    amqp_proxy, nats_proxy = TcpProxy(AMQP_PORT), TcpProxy(NATS_PORT)
    amqp_target = {"url": amqp_url(amqp_proxy.port), "exchange": queue.exchange}
    try:
        config = make_config(
            {"name": "bus", "amqp": {**amqp_target, "routing_key": "alerts"}},
            {"name": "jet", "nats": {"url": nats_url(nats_proxy.port), "subject": js.subject}},
        )
        add_alerts(store, 20, ("bus", "jet"))
        the_sender = sender(store, config)

        async def run() -> list[int]:
            try:
                await the_sender.deliver_due()
                add_alerts(store, 20, ("bus", "jet"), prefix="b")
                await the_sender.deliver_due()
                return [amqp_proxy.open_connections, nats_proxy.open_connections]
            finally:
                await the_sender.aclose()

        assert asyncio.run(run()) == [1, 1]  # concurrency 4, 40 alerts: one connection each
        assert (amqp_proxy.accepted, nats_proxy.accepted) == (1, 1)
        assert wait_until(lambda: amqp_proxy.open_connections + nats_proxy.open_connections == 0)
    finally:
        amqp_proxy.close()
        nats_proxy.close()
    assert len(queue.read()) == len(js.read()) == 40
