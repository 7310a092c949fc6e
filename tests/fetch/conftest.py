"""A misbehaving HTTP server on 127.0.0.1 and a helper to run fetches against it.

Tests get them as fixtures; they import the classes only for type hints (TYPE_CHECKING).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from monitor.fetch import Fetcher, FetchResult
from monitor.netguard import NetworkPolicy


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    at: float


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def do_GET(self) -> None:
        self.server.seen.append(
            Seen(self.path, {k.lower(): v for k, v in self.headers.items()}, time.monotonic())
        )
        route = self.server.routes.get(self.path.split("?")[0])
        if route is None:
            self.reply(404, b"no such route")
        else:
            route(self)

    def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle(self) -> None:
        with contextlib.suppress(OSError):  # the client hung up on a misbehaving route
            super().handle()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.routes: dict[str, Callable[[Handler], None]] = {}
        self.seen: list[Seen] = []
        self.stopping = threading.Event()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.server_address[1]}{path}"

    def route(self, path: str) -> Callable[[Callable[[Handler], None]], Callable[[Handler], None]]:
        def register(func: Callable[[Handler], None]) -> Callable[[Handler], None]:
            self.routes[path] = func
            return func

        return register

    def paths(self) -> list[str]:
        return [s.path for s in self.seen]


LOCAL = NetworkPolicy(allow_private=True)


@dataclass
class FetchRunner:
    """Runs fetches in a fresh event loop with a fresh Fetcher (short limits for tests)."""

    defaults: dict[str, Any] = field(
        default_factory=lambda: {"policy": LOCAL, "timeout": 2.0, "deadline": 5.0}
    )

    def __call__(self, url: str, **kwargs: Any) -> FetchResult:
        return self.many([url], **kwargs)[0]

    def many(
        self,
        urls: list[str],
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        **fetcher_kwargs: Any,
    ) -> list[FetchResult]:
        async def go() -> list[FetchResult]:
            async with Fetcher(**{**self.defaults, **fetcher_kwargs}) as fetcher:
                jobs = [fetcher.fetch(u, etag=etag, last_modified=last_modified) for u in urls]
                return list(await asyncio.gather(*jobs))

        return asyncio.run(go())


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield srv
    finally:
        srv.stopping.set()
        srv.shutdown()
        srv.server_close()
        thread.join()


@pytest.fixture
def fetch() -> FetchRunner:
    return FetchRunner()
