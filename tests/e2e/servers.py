"""Real local servers for end-to-end tests: a feed server and a signature-checking receiver.

Both listen on 127.0.0.1 only, on a free port, in a background thread.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class LocalServer:
    def __init__(self, handler: type[BaseHTTPRequestHandler], port: int = 0) -> None:
        self.httpd = _Server(("127.0.0.1", port), handler)
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _FeedHandler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        feeds: FeedServer = self.server.owner  # type: ignore[attr-defined]
        feeds.requests.append(self.path)
        body = feeds.documents.get(self.path)
        if body is None:
            self.send_response(404)
            self.send_header("content-length", "0")
            self.end_headers()
            return
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if self.headers.get("if-none-match") == etag:
            feeds.not_modified += 1
            self.send_response(304)
            self.send_header("etag", etag)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("content-type", "application/rss+xml; charset=utf-8")
        self.send_header("etag", etag)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class FeedServer(LocalServer):
    """Serves ``documents[path]`` with an ETag, answering 304 to a matching If-None-Match."""

    def __init__(self) -> None:
        self.documents: dict[str, bytes] = {}
        self.requests: list[str] = []
        self.not_modified = 0
        super().__init__(_FeedHandler)


@dataclass
class Received:
    webhook_id: str
    payload: dict[str, Any]
    headers: dict[str, str]
    at: float


class _ReceiverHandler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        receiver: Receiver = self.server.owner  # type: ignore[attr-defined]
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length)
        if len(body) < length:
            # The sender died mid-request (kill -9): no one to answer, nothing delivered.
            receiver.truncated += 1
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        status = receiver.respond(headers, body)
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()


@dataclass
class Receiver:
    """A webhook consumer that verifies every signature with the standardwebhooks package.

    ``behaviour`` decides the status of each request (default: 204 after verifying).
    """

    secrets: tuple[str, ...]
    port: int = 0
    behaviour: Callable[[int], int] = lambda n: 204
    received: list[Received] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    attempts: int = 0
    truncated: int = 0  # requests whose body never fully arrived
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.server = LocalServer(_ReceiverHandler, self.port)
        self.server.httpd.owner = self  # type: ignore[attr-defined]
        self.port = self.server.port

    def url(self, path: str = "/hook") -> str:
        return self.server.url(path)

    def respond(self, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            self.attempts += 1
            attempt = self.attempts
        for secret in self.secrets:
            try:
                Webhook(secret).verify(body, headers)
            except Exception as exc:  # every failure is a rejected delivery, whatever its type
                self.rejected.append(f"{secret[:10]}: {exc}")
                return 401
        status = self.behaviour(attempt)
        if 200 <= status < 300:
            with self.lock:
                self.received.append(
                    Received(headers["webhook-id"], json.loads(body), headers, time.time())
                )
        return status

    def ids(self) -> list[str]:
        return [r.webhook_id for r in self.received]

    def close(self) -> None:
        self.server.close()


def wait_for(condition: Callable[[], bool], what: str = "", timeout: float = 30.0) -> None:
    """Poll ``condition`` until it holds; fail the test naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def http_get(url: str) -> tuple[int, str]:
    """Status and body of a GET; (0, "") when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""
