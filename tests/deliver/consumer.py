"""A scriptable local webhook consumer, an outbox to feed the sender, and ways to run it.

The consumer listens on 127.0.0.1 only, verifies signatures with the standardwebhooks
package, answers each request as its script says and counts concurrent requests.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
from standardwebhooks import Webhook

from monitor.config import Config
from monitor.core.clock import Clock
from monitor.deliver.sender import Sender
from monitor.documents.payload import alert_payload
from monitor.models import (
    Alert,
    DeliveryOutcome,
    DeliveryRecord,
    FeedSpec,
    FeedUpdate,
    FieldHit,
    Item,
    NewAlert,
    PollRecord,
)
from monitor.store import Store
from tests.e2e.servers import LocalServer

T0 = 1_750_000_000.0
FEED = "http://127.0.0.1:9/feed"
SECRET = "whsec_dGVzdC1zZWNyZXQtZm9yLW5ld3MtbW9uaXRvcg=="
OLD_SECRET = "whsec_b2xkLXNlY3JldC1zdGlsbC1hY2NlcHRlZC1oZXJl"


@dataclass(frozen=True)
class Reply:
    status: int = 204
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering


@dataclass
class Consumer:
    """Answers request ``n`` (from 1) with ``script(n)``; records the 2xx-answered ones."""

    secrets: tuple[str, ...] = ()
    script: Callable[[int], Reply] = lambda n: Reply()
    port: int = 0
    requests: int = 0
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    connections: set[tuple[str, int]] = field(default_factory=set)  # client (host, port)s
    user_agents: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.server = LocalServer(_Handler, self.port)
        self.server.httpd.owner = self  # type: ignore[attr-defined]
        self.port = self.server.port

    def url(self, path: str = "/hook") -> str:
        return self.server.url(path)

    def ids(self) -> list[str]:
        return [webhook_id for webhook_id, _ in self.received]

    def handle(self, headers: dict[str, str], body: bytes) -> Reply:
        with self.lock:
            self.requests += 1
            number = self.requests
            self.user_agents.add(headers.get("user-agent", ""))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            for secret in self.secrets:
                try:
                    Webhook(secret).verify(body, headers)
                except Exception as exc:  # any verification failure is a rejection
                    self.rejected.append(str(exc))
                    return Reply(401)
            reply = self.script(number)
            time.sleep(reply.delay)
            if 200 <= reply.status < 300:
                with self.lock:
                    # Apprise targets send no webhook-id: their record has an empty one.
                    self.received.append((headers.get("webhook-id", ""), json.loads(body)))
            return reply
        finally:
            with self.lock:
                self.in_flight -= 1

    def close(self) -> None:
        self.server.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real consumers do

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        consumer: Consumer = self.server.owner  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        with consumer.lock:
            consumer.connections.add(self.client_address)
        reply = consumer.handle({k.lower(): v for k, v in self.headers.items()}, body)
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("content-length", "0")
            self.end_headers()
        except OSError:
            pass  # the sender gave up (timeout) and closed the connection


class SettableWall:
    """A wall clock the test sets (due times, signing time); ``clock()`` is the sender's
    ``Clock``, whose monotonic time (breaker, deadlines) stays real."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def clock(self) -> Clock:
        return Clock(wall=self, monotonic=time.monotonic)


def real_wall() -> SettableWall:
    """Starting at the real time: a consumer checks a signature's timestamp against that."""
    return SettableWall(time.time())


def make_config(*webhooks: dict[str, Any], **extra: Any) -> Config:
    return Config.model_validate(
        {"feeds": [], "network": {"allow_private": True}, "webhooks": list(webhooks), **extra}
    )


def open_store(tmp_path: Path) -> Store:
    store = Store(f"sqlite:///{tmp_path}/state.db")
    store.sync_feeds([FeedSpec(FEED, "wire", 600)], T0)
    return store


def add_alerts(
    store: Store,
    count: int,
    hooks: tuple[str, ...],
    *,
    created: list[float] | None = None,
    prefix: str = "a",
) -> list[str]:
    """Commit ``count`` alerts (one item each) for ``hooks``; returns their ids in order."""
    times = created or [T0] * count
    items, alerts = [], []
    for n, at in enumerate(times):
        item = Item(
            key=f"{prefix}{n}",
            story_key=f"url:news.test/{prefix}{n}",
            feed="wire",
            feed_url=FEED,
            title=f"Story {prefix}{n}",
            link=f"https://news.test/{prefix}{n}",
            summary="A summary.",
            content="",
            published=datetime.fromtimestamp(at, UTC),
            lang="en",
        )
        alert = Alert(
            id=f"msg_{prefix}{n:04d}",
            rule="r",
            item=item,
            hits=(FieldHit("title", f"**Story** {prefix}{n}", ("story",)),),
            created_at=datetime.fromtimestamp(at, UTC),
        )
        items.append(item)
        alerts.append(NewAlert(alert.id, "r", item, alert_payload(alert), hooks, at))
    update = FeedUpdate("ok", T0, T0 + 600, 600, 0, True)
    store.record_polls([PollRecord(FEED, update, items, alerts, T0)])
    return [alert.id for alert in alerts]


def hook(name: str, url: str, **settings: Any) -> dict[str, Any]:
    return {"name": name, "url": url, "secret": [SECRET], **settings}


def make_sender(
    store: Store,
    wall: SettableWall,
    *hooks: dict[str, Any],
    transport: httpx.AsyncBaseTransport | None = None,
) -> Sender:
    config = make_config(*hooks)
    return Sender(
        config, store, owner="test", clock=wall.clock(), rng=random.Random(7), transport=transport
    )


def rounds(sender: Sender, count: int = 1) -> list[list[DeliveryOutcome]]:
    """``count`` delivery rounds, then the sender closed."""

    async def run() -> list[list[DeliveryOutcome]]:
        try:
            return [await sender.deliver_due() for _ in range(count)]
        finally:
            await sender.aclose()

    return asyncio.run(run())


def deliveries(store: Store, webhook: str | None = None) -> dict[str, DeliveryRecord]:
    return {r.alert_id: r for r in store.list_deliveries(limit=1000, webhook=webhook)}


def start(consumers: list[Consumer], **kwargs: Any) -> Consumer:
    """A consumer, kept in ``consumers`` (the fixture) so that the test's end closes it."""
    consumer = Consumer(**kwargs)
    consumers.append(consumer)
    return consumer
