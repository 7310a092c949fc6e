"""A site behind ``httpx.MockTransport``: no socket, so fetch behaviour tests run fast.

Routes by path (on any host) to handlers that build ``httpx.Response``s, sync or async;
records every request the fetcher made, as ``tests.fetch.server`` does on a real socket.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx

Route = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    at: float


class MockSite:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.seen: list[Seen] = []
        self.transport = httpx.MockTransport(self._handle)

    @staticmethod
    def url(path: str, host: str = "feeds.test") -> str:
        return f"http://{host}{path}"

    def paths(self) -> list[str]:
        return [s.path for s in self.seen]

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.seen.append(Seen(request.url.path, headers, time.monotonic()))
        route = self.routes.get(request.url.path)
        if route is None:
            return response(404, b"no such route")
        answer = route(request)
        return await answer if inspect.isawaitable(answer) else answer


def response(
    status: int, body: bytes = b"", headers: dict[str, str] | None = None
) -> httpx.Response:
    """A response as a server sends it: with a Content-Length, its body not read yet
    (``httpx.Response(content=...)`` reads it at once, and a fetcher streams it)."""
    length = {"Content-Length": str(len(body))}
    return httpx.Response(
        status, headers={**length, **(headers or {})}, stream=httpx.ByteStream(body)
    )


def reply(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Route:
    return lambda _request: response(status, body, headers)


def endless(_request: httpx.Request) -> httpx.Response:
    """A body that never ends (chunked, 64 KiB at a time)."""

    async def chunks() -> AsyncIterator[bytes]:
        while True:
            yield b"<" * 65536

    return httpx.Response(200, content=chunks())
