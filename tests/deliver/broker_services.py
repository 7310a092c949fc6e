"""The real local brokers the broker-target tests publish to, a way to read what reached each,
and a TCP proxy the tests cut and restore to play a broker outage.

Redis 127.0.0.1:6379, RabbitMQ 127.0.0.1:5672 (guest/guest), NATS with JetStream
127.0.0.1:4222; ``.ci/run`` starts them. Every test uses its own stream, exchange, queue and
subject names and removes them afterwards.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import aio_pika
import nats
import pytest
import redis

REDIS_PORT, AMQP_PORT, NATS_PORT = 6379, 5672, 4222
PORTS = {"redis": REDIS_PORT, "amqp": AMQP_PORT, "nats": NATS_PORT}


def redis_url(port: int = REDIS_PORT) -> str:
    return f"redis://127.0.0.1:{port}/0"


def amqp_url(port: int = AMQP_PORT, password: str = "guest") -> str:
    return f"amqp://guest:{password}@127.0.0.1:{port}/"


def nats_url(port: int = NATS_PORT) -> str:
    return f"nats://127.0.0.1:{port}"


def target_at(key: str, port: int) -> dict[str, Any]:
    """A webhook entry's broker target of kind ``key`` on 127.0.0.1:``port``, its names ones
    no test reads."""
    if key == "redis":
        return {"redis": {"url": redis_url(port), "stream": "nm-test-unread"}}
    if key == "amqp":
        return {"amqp": {"url": amqp_url(port), "exchange": "nm-test-unread"}}
    return {"nats": {"url": nats_url(port), "subject": "nm-test.unread"}}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def require(port: int, name: str) -> None:
    """Skip (fail on CI) unless something listens on 127.0.0.1:``port``."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not reachable on 127.0.0.1:{port} (CI must start it)")
        pytest.skip(f"no {name} on 127.0.0.1:{port}")


@dataclass(frozen=True)
class Received:
    """One message as it reached a broker: its id as the broker carries it, and its body."""

    id: str
    body: bytes
    content_type: str | None = None


@contextmanager
def redis_stream() -> Iterator[tuple[str, Any]]:
    """A fresh stream name and a function reading what reached it; deleted afterwards."""
    require(REDIS_PORT, "Redis")
    stream = unique("nm-test")
    client = redis.Redis(host="127.0.0.1", port=REDIS_PORT)

    def read() -> list[Received]:
        entries = client.xrange(stream)
        return [Received(f[b"alert_id"].decode(), f[b"event"]) for _, f in entries]

    try:
        yield stream, read
    finally:
        client.delete(stream)
        client.close()


@dataclass(frozen=True)
class AmqpQueue:
    """A durable exchange with one queue bound to it for ``routing_key``."""

    exchange: str
    routing_key: str
    queue: str

    def read(self) -> list[Received]:
        async def drain() -> list[Received]:
            connection = await aio_pika.connect(amqp_url())
            async with connection:
                channel = await connection.channel()
                queue = await channel.get_queue(self.queue)
                got = []
                while (message := await queue.get(no_ack=True, fail=False)) is not None:
                    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
                    got.append(
                        Received(message.message_id or "", message.body, message.content_type)
                    )
                return got

        return asyncio.run(drain())


@contextmanager
def amqp_queue(routing_key: str = "alerts") -> Iterator[AmqpQueue]:
    require(AMQP_PORT, "RabbitMQ")
    bound = AmqpQueue(unique("nm-test"), routing_key, unique("nm-test-q"))

    async def setup() -> None:
        async with await aio_pika.connect(amqp_url()) as connection:
            channel = await connection.channel()
            exchange = await channel.declare_exchange(
                bound.exchange, aio_pika.ExchangeType.TOPIC, durable=True
            )
            queue = await channel.declare_queue(bound.queue)
            await queue.bind(exchange, routing_key)

    async def teardown() -> None:
        async with await aio_pika.connect(amqp_url()) as connection:
            channel = await connection.channel()
            await channel.queue_delete(bound.queue)
            await channel.exchange_delete(bound.exchange)

    asyncio.run(setup())
    try:
        yield bound
    finally:
        asyncio.run(teardown())


@dataclass(frozen=True)
class JetStream:
    """A JetStream stream taking one subject."""

    stream: str
    subject: str

    def read(self) -> list[Received]:
        async def fetch() -> list[Received]:
            client = await nats.connect(nats_url())
            try:
                jetstream = client.jetstream()
                info = await jetstream.stream_info(self.stream)
                got = []
                for seq in range(info.state.first_seq, info.state.last_seq + 1):
                    message = await jetstream.get_msg(self.stream, seq)
                    headers = message.headers or {}
                    got.append(
                        Received(
                            headers.get("Nats-Msg-Id", ""),
                            message.data or b"",
                            headers.get("Content-Type"),
                        )
                    )
                return got
            finally:
                await client.close()

        return asyncio.run(fetch())


@contextmanager
def jetstream() -> Iterator[JetStream]:
    require(NATS_PORT, "NATS")
    name = unique("nm-test")
    created = JetStream(name, f"{name}.alerts")

    async def run(add: bool) -> None:
        client = await nats.connect(nats_url())
        try:
            if add:
                await client.jetstream().add_stream(name=created.stream, subjects=[created.subject])
            else:
                await client.jetstream().delete_stream(created.stream)
        finally:
            await client.close()

    asyncio.run(run(add=True))
    try:
        yield created
    finally:
        asyncio.run(run(add=False))


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to a local broker. ``cut()`` plays an outage: it ends every
    connection and then closes each new one at once; ``restore()`` forwards again. With
    ``latency`` every chunk waits that long each way, so a publish stays in flight a while."""

    def __init__(self, upstream: int, latency: float = 0.0) -> None:
        self._upstream = upstream
        self._latency = latency
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self.accepted = 0  # connections forwarded
        self._up = True
        self._closed = False
        self._live: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._live) // 2  # each connection is a client and an upstream socket

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self._up:
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self._upstream))
            except OSError:
                client.close()
                continue
            with self._lock:
                self.accepted += 1
                self._live |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                time.sleep(self._latency)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            self._end(source, sink)

    def _end(self, *sockets: socket.socket) -> None:
        with self._lock:
            for sock in sockets:
                if sock in self._live:
                    self._live.discard(sock)
                    with suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                    sock.close()

    def cut(self) -> None:
        self._up = False
        with self._lock:
            live = list(self._live)
        self._end(*live)

    def restore(self) -> None:
        self._up = True

    def close(self) -> None:
        self.cut()
        self._closed = True
        self._thread.join()
        self._listener.close()


def wait_until(condition: Callable[[], bool], timeout: float = 3.0) -> bool:
    """Whether ``condition`` holds within ``timeout`` seconds (the proxy sees a close late)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
