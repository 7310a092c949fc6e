"""kill -9 the daemon at random moments while it publishes to Redis, RabbitMQ and JetStream.

test_kill's promise for broker targets: one daemon, three broker webhooks, each broker
reached through a proxy that holds every chunk a while, so publishes and their
acknowledgements are in flight when the daemon dies. After every restart each expected alert
still reaches every broker (at least once: a repeat on Redis and RabbitMQ is allowed, and
counted; JetStream drops it by ``Nats-Msg-Id``, so exactly once there), an alert id always
carries the same message, and no story becomes two alerts.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import aio_pika
import nats
import pytest
import redis

from tests.deliver.broker_services import (
    PORTS,
    AmqpQueue,
    JetStream,
    Received,
    TcpProxy,
    amqp_queue,
    amqp_url,
    jetstream,
    nats_url,
    redis_stream,
    redis_url,
)
from tests.e2e.conftest import rss
from tests.e2e.servers import FeedServer, free_port
from tests.e2e.test_kill import KILLS, start, wait_for, wave

pytestmark = pytest.mark.e2e

SEED = 20240517
LATENCY = 0.05  # seconds every chunk waits in a proxy, each way: a publish takes ~0.1 s
KEYS = ("redis", "amqp", "nats")
# From the last restart until every broker has every alert: a cold start (up to ~5 s on a
# loaded 2-core machine, plus the broker clients' imports), one tick, connecting through the
# proxy (RabbitMQ's handshake is ~7 round trips), then each target's whole backlog one
# publish at a time, twice over for re-sends.
DEADLINE = 10.0 + 1.0 + 14 * 2 * LATENCY + 2 * (KILLS + 1) * 4 * 2 * LATENCY


class Brokers:
    """The three brokers' fresh names, and what reached each."""

    def __init__(self, stack: ExitStack) -> None:
        self.stream, self._read_redis = stack.enter_context(redis_stream())
        self.queue: AmqpQueue = stack.enter_context(amqp_queue())
        self.jetstream: JetStream = stack.enter_context(jetstream())
        self._redis = redis.Redis(host="127.0.0.1", port=PORTS["redis"])
        stack.callback(self._redis.close)
        self._drained: list[Received] = []  # reading the queue takes its messages

    def targets(self, ports: dict[str, int]) -> dict[str, dict[str, Any]]:
        return {
            "redis": {"url": redis_url(ports["redis"]), "stream": self.stream},
            "amqp": {
                "url": amqp_url(ports["amqp"]),
                "exchange": self.queue.exchange,
                "routing_key": self.queue.routing_key,
            },
            "nats": {"url": nats_url(ports["nats"]), "subject": self.jetstream.subject},
        }

    def count(self, key: str) -> int:
        """How many messages reached the broker so far (without taking any)."""
        if key == "redis":
            return int(self._redis.xlen(self.stream))
        return asyncio.run(self._amqp_count() if key == "amqp" else self._nats_count())

    async def _amqp_count(self) -> int:
        async with await aio_pika.connect(amqp_url()) as connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(self.queue.queue, passive=True)
            count = queue.declaration_result.message_count
            return count or 0

    async def _nats_count(self) -> int:
        client = await nats.connect(nats_url())
        try:
            info = await client.jetstream().stream_info(self.jetstream.stream)
            return info.state.messages
        finally:
            await client.close()

    def read(self) -> dict[str, list[Received]]:
        self._drained += self.queue.read()
        return {"redis": self._read_redis(), "amqp": self._drained, "nats": self.jetstream.read()}


def write_config(tmp: Path, feed_url: str, targets: dict[str, dict[str, Any]]) -> Path:
    hooks = "".join(
        f"  - {{name: {key}, {key}: {json.dumps(target)}, concurrency: 1, timeout: 5s}}\n"
        for key, target in targets.items()
    )
    config = tmp / "monitor.yaml"
    config.write_text(
        f"state: sqlite:///{tmp}/state.db\n"
        f"server: {{listen: '127.0.0.1:{free_port()}'}}\n"
        "network: {allow_private: true}\n"
        "feeds:\n"
        f"  - {{name: wire, url: '{feed_url}', interval: 1s, min_interval: 1s}}\n"
        "rules:\n"
        "  - {name: ultimatum, query: ultimatum}\n"
        f"webhooks:\n{hooks}"
    )
    return config


@pytest.fixture
def brokers() -> Iterator[tuple[Brokers, dict[str, int]]]:
    """The brokers, and the port of each one's slow proxy."""
    with ExitStack() as stack:
        found = Brokers(stack)
        proxies = {key: TcpProxy(PORTS[key], latency=LATENCY) for key in KEYS}
        for proxy in proxies.values():
            stack.callback(proxy.close)
        yield found, {key: proxy.port for key, proxy in proxies.items()}


def test_kill_9_while_publishing_loses_no_alert_on_any_broker(
    tmp_path: Path, brokers: tuple[Brokers, dict[str, int]]
) -> None:
    found, ports = brokers
    rng = random.Random(SEED)
    feeds = FeedServer()
    items = wave(0)
    feeds.documents["/wire.xml"] = rss(*items)
    config = write_config(tmp_path, feeds.url("/wire.xml"), found.targets(ports))
    log = tmp_path / "daemon.log"
    proc = start(config, log)
    try:
        for kill in range(KILLS):
            # Each broker in turn is the one publishing when the daemon dies: kill after
            # this run's first message reached it, at random while the next is in flight.
            watched = KEYS[kill % len(KEYS)]
            seen = found.count(watched)
            assert wait_for(lambda: found.count(watched) > seen, 15), log.read_text()[-2000:]  # noqa: B023
            time.sleep(rng.uniform(0, 3 * 2 * LATENCY))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            items += wave(kill + 1)  # news keeps coming while it is down
            feeds.documents["/wire.xml"] = rss(*items)
            proc = start(config, log)
        last_start = time.monotonic()
        expected = sorted(f"guid:{guid}" for guid, title, _ in items if "ultimatum" in title)

        def missing() -> dict[str, list[str]]:
            got = found.read()
            return {key: sorted(set(expected) - {story_of(m) for m in got[key]}) for key in KEYS}

        assert wait_for(
            lambda: not any(missing().values()), DEADLINE - (time.monotonic() - last_start)
        ), f"missing {missing()}\n{log.read_text()[-3000:]}"
        # Before the final SIGTERM: shutdown noise is not what this test is about.
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        feeds.close()

    received = found.read()
    messages: dict[str, bytes] = {}
    for key in KEYS:
        for message in received[key]:
            # A re-send after a kill, or to another broker, carries the same id AND message.
            assert messages.setdefault(message.id, message.body) == message.body, key
        # One alert id per story: none was made twice.
        assert sorted({message.id: story_of(message) for message in received[key]}.values()) == (
            expected
        ), key
    assert len(received["nats"]) == len(expected)  # JetStream dropped every repeat
    repeats = {
        key: sum(n - 1 for n in Counter(m.id for m in received[key]).values()) for key in KEYS
    }
    print(f"repeats after {KILLS} kills of {len(expected)} alerts: {repeats}")


def story_of(message: Received) -> str:
    event = json.loads(message.body)
    assert event["id"] == message.id  # the id beside the message is the envelope's
    story: str = event["data"]["item"]["id"]
    return story
