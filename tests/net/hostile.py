"""Hostile local HTTP servers: one that redirects, one whose answer never ends, a canary.

Each listens on a loopback address (127.0.0.1 unless told: 127.0.0.2 is loopback too, so a
policy allowing only 127.0.0.1/32 refuses it) in a background thread and counts requests.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ADVERTISED = 3 * 1024**3  # the endless answer's Content-Length: 3 GiB
CHUNK = b"x" * 65536
ENDLESS_FOR = 30.0  # seconds an endless answer goes on if the client keeps reading


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class HostileServer:
    """Answers every request with ``respond(handler)``, after reading its body."""

    def __init__(
        self, respond: Callable[[BaseHTTPRequestHandler], None], host: str = "127.0.0.1"
    ) -> None:
        self.respond = respond
        self.requests = 0
        self.lock = threading.Lock()
        self.httpd = _Server((host, 0), _Handler)
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.host = host
        self.port = self.httpd.server_address[1]
        # A short poll interval: close() waits for serve_forever to notice.
        serving = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        serving.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    # Every method a redirected request may come as (a 302 turns a POST into a GET).
    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def do_PUT(self) -> None:
        self._answer()

    def _answer(self) -> None:
        server: HostileServer = self.server.owner  # type: ignore[attr-defined]
        with server.lock:
            server.requests += 1
        self.rfile.read(int(self.headers.get("content-length", "0")))
        with contextlib.suppress(OSError):  # the client hung up: the endless answer's end
            server.respond(self)


def canary(host: str = "127.0.0.2") -> HostileServer:
    """Answers 200 to anything; a test asserts it is never reached."""

    def respond(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("content-length", "0")
        handler.end_headers()

    return HostileServer(respond, host)


def redirector(status: int, location: str) -> HostileServer:
    def respond(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("location", location)
        handler.send_header("content-length", "0")
        handler.end_headers()

    return HostileServer(respond)


def endless(status: int = 200, *, chunked: bool = False) -> HostileServer:
    """Answers ``status`` with a body that does not end: 3 GiB advertised, or chunked."""

    def respond(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("content-type", "application/json")
        if chunked:
            handler.send_header("transfer-encoding", "chunked")
        else:
            handler.send_header("content-length", str(ADVERTISED))
        handler.end_headers()
        frame = b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK) if chunked else CHUNK
        stop = time.monotonic() + ENDLESS_FOR
        while time.monotonic() < stop:
            handler.wfile.write(frame)

    return HostileServer(respond)
