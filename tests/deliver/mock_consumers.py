"""Webhook consumers without sockets: an ``httpx.MockTransport`` the sender posts through.

Each consumer answers at its own host (``http://<name>.test/hook``) as its script says,
like ``consumer.Consumer``, and checks each signature with the standardwebhooks package for
the timestamp the request carries (the sender's clock is the test's, not the real time).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from standardwebhooks import Webhook

from tests.deliver.consumer import Reply


def signature_matches(secret: str, headers: httpx.Headers, body: bytes) -> bool:
    """Whether one of the request's ``v1,`` signatures is ``secret``'s for its timestamp."""
    at = datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC)
    expected = Webhook(secret).sign(headers["webhook-id"], at, body)
    return expected in headers.get("webhook-signature", "").split(" ")


@dataclass
class MockConsumer:
    """Answers request ``n`` (from 1) with ``script(n)``; records the 2xx-answered ones."""

    name: str
    secrets: tuple[str, ...] = ()
    script: Callable[[int], Reply] = lambda n: Reply()
    requests: int = 0
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    headers: list[httpx.Headers] = field(default_factory=list)  # of every request
    bodies: list[bytes] = field(default_factory=list)  # of every request
    in_flight: int = 0
    max_in_flight: int = 0

    def url(self, path: str = "/hook") -> str:
        return f"http://{self.name}.test{path}"

    def ids(self) -> list[str]:
        return [webhook_id for webhook_id, _ in self.received]

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        self.headers.append(request.headers)
        self.bodies.append(request.content)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            for secret in self.secrets:
                if not signature_matches(secret, request.headers, request.content):
                    self.rejected.append(request.headers["webhook-id"])
                    return httpx.Response(401)
            reply = self.script(self.requests)
            await asyncio.sleep(reply.delay)
            if 200 <= reply.status < 300:
                webhook_id = request.headers.get("webhook-id", "")
                self.received.append((webhook_id, json.loads(request.content)))
            return httpx.Response(reply.status, headers=reply.headers)
        finally:
            self.in_flight -= 1


class MockNetwork:
    """Consumers by host name; ``transport`` routes each request to its consumer."""

    def __init__(self) -> None:
        self.consumers: dict[str, MockConsumer] = {}
        self.transport = httpx.MockTransport(self._route)

    def add(self, name: str, **kwargs: Any) -> MockConsumer:
        consumer = MockConsumer(name, **kwargs)
        self.consumers[f"{name}.test"] = consumer
        return consumer

    async def _route(self, request: httpx.Request) -> httpx.Response:
        consumer = self.consumers.get(request.url.host)
        if consumer is None:
            raise httpx.ConnectError("All connection attempts failed", request=request)
        return await consumer.handle(request)
