"""A misbehaving HTTP server on 127.0.0.1: each test routes paths to handlers of its own.

Used by the fetcher tests and by the end-to-end runs that put hostile feeds beside good ones.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


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


@contextlib.contextmanager
def serving() -> Iterator[Server]:
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


# Misbehaving routes shared by the fetcher's tests and the end-to-end run.


def endless(h: Handler) -> None:
    """A body that never ends (chunked, 64 KiB at a time, until the server stops)."""
    h.send_response(200)
    h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    chunk = b"%x\r\n%s\r\n" % (65536, b"<" * 65536)
    while not h.server.stopping.is_set():
        h.wfile.write(chunk)


def drip(h: Handler) -> None:
    """One byte every 50 ms: never idle long enough for a read timeout."""
    h.send_response(200)
    h.send_header("Content-Length", "100000")
    h.end_headers()
    while not h.server.stopping.wait(0.05):
        h.wfile.write(b"<")
        h.wfile.flush()
