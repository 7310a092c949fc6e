"""A tiny HTTP/1.1 server for the daemon's own endpoints and the demo's local receiver.

A handful of routes do not justify a web framework and its event-loop integration; asyncio's
streams are enough. Requests are bounded in size and time; every response closes.

The endpoints have no authentication, so the server also bounds what a client can hold:
at most ``MAX_CONNECTIONS`` at once (a new connection over the cap cuts the oldest one still
sending its request, or is refused if none is), and ``TIMEOUT`` seconds to send a request
or take the response. Connections cut, refused or failing to be accepted (out of file
descriptors) are counted in ``monitor_http_connections_dropped_total`` and logged in one
line at most every ``DROP_LOG_EVERY`` seconds, never one line (or traceback) each.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from monitor import log
from monitor.errors import MonitorError
from monitor.runtime import metrics

logger = log.get("monitor.runtime.httpserver")

MAX_CONNECTIONS = 64
TIMEOUT = 10.0
DROP_LOG_EVERY = 60.0


class ListenError(MonitorError):
    """The address is taken or not ours to bind; the caller knows which setting named it."""


Response = tuple[int, str, bytes]  # status, content type, body


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    headers: Mapping[str, str]  # lower-cased names
    body: bytes


Route = Callable[[Request], Awaitable[Response]]

_REASONS = {
    200: "OK",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Content Too Large",
    503: "Service Unavailable",
}
_MAX_HEAD = 16 * 1024
_MAX_BODY = 1024 * 1024


async def _read_request(reader: asyncio.StreamReader) -> Request | Response:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    request_line, *header_lines = head.split("\r\n")
    method, _, rest = request_line.partition(" ")
    path = rest.partition(" ")[0].partition("?")[0]
    headers = {}
    for line in header_lines:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    length = headers.get("content-length", "0")
    if not length.isdigit() or int(length) > _MAX_BODY:
        return 413, "text/plain", b"body too large\n"
    body = await reader.readexactly(int(length)) if int(length) else b""
    return Request(method, path, headers, body)


class _Drops:
    """Connections the server turned away: counted always, logged at most once per interval
    (one line with the counts since the last one)."""

    def __init__(self) -> None:
        self.unlogged: Counter[str] = Counter()
        self.logged_at = float("-inf")

    def note(self, reason: str) -> None:
        metrics.http_dropped.labels(reason).inc()
        self.unlogged[reason] += 1
        now = time.monotonic()
        if now - self.logged_at >= DROP_LOG_EVERY:
            logger.warning("HTTP connections dropped", **self.unlogged, limit=MAX_CONNECTIONS)
            self.unlogged.clear()
            self.logged_at = now


class _Connections:
    """The open connections, at most ``limit``; those still sending their request, oldest
    first, are the ones a new connection may cut."""

    def __init__(self, limit: int, drops: _Drops) -> None:
        self.limit = limit
        self.drops = drops
        self.open = 0
        self.reading: dict[asyncio.StreamWriter, None] = {}

    def admit(self, writer: asyncio.StreamWriter) -> bool:
        if self.open >= self.limit:
            if not self.cut_oldest():
                self.drops.note("over_capacity")
                return False
            self.drops.note("cut_for_newer")
        self.open += 1
        self.reading[writer] = None
        return True

    def cut_oldest(self) -> bool:
        """Cut the connection that has been sending its request the longest, if any."""
        if not self.reading:
            return False
        oldest = next(iter(self.reading))
        del self.reading[oldest]
        oldest.transport.abort()  # its handler sees the connection lost, and closes
        return True

    def request_read(self, writer: asyncio.StreamWriter) -> None:
        self.reading.pop(writer, None)

    def closed(self, writer: asyncio.StreamWriter) -> None:
        self.open -= 1
        self.reading.pop(writer, None)


async def _respond(request: Request | Response, routes: Mapping[str, Route]) -> Response:
    if not isinstance(request, Request):
        return request
    if (route := routes.get(request.path)) is None:
        return 404, "text/plain", b"not found\n"
    return await route(request)


_ACCEPT_FAILED = "socket.accept() out of system resource"


def _handle_accept_failures(
    server: asyncio.Server, connections: _Connections, drops: _Drops
) -> None:
    """asyncio reports an accept that fails for want of file descriptors to the loop's
    exception handler, with a traceback, up to a hundred times a second, and retries it a
    second later: count those instead, and cut an idle connection to free a descriptor."""
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    ours = {sock.fileno() for sock in server.sockets}

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        sock = context.get("socket")
        if context.get("message") == _ACCEPT_FAILED and sock is not None and sock.fileno() in ours:
            drops.note("accept_failed")
            connections.cut_oldest()
        elif previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)


async def serve(
    host: str,
    port: int,
    routes: Mapping[str, Route],
    *,
    max_connections: int = MAX_CONNECTIONS,
    timeout: float = TIMEOUT,
) -> asyncio.Server:
    drops = _Drops()
    connections = _Connections(max_connections, drops)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not connections.admit(writer):
            writer.transport.abort()
            return
        try:
            async with asyncio.timeout(timeout):
                request = await _read_request(reader)
            connections.request_read(writer)
            status, ctype, body = await _respond(request, routes)
            writer.write(
                f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}\r\n"
                f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode("latin-1")
            )
            if not isinstance(request, Request) or request.method != "HEAD":
                writer.write(body)
            async with asyncio.timeout(timeout):
                await writer.drain()
        except TimeoutError:
            drops.note("timeout")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass
        finally:
            connections.closed(writer)
            writer.close()

    try:
        server = await asyncio.start_server(handle, host, port, limit=_MAX_HEAD)
    except OSError as exc:
        # asyncio's own strerror repeats the address: the errno's text says it once.
        reason = (os.strerror(exc.errno) if exc.errno else str(exc)).lower()
        raise ListenError(f"cannot listen on {host}:{port}: {reason}") from None
    _handle_accept_failures(server, connections, drops)
    return server


def get_only(handler: Callable[[], Awaitable[Response]]) -> Route:
    """A route that answers GET and HEAD with ``handler()``, and 405 to anything else."""

    async def route(request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return 405, "text/plain", b"method not allowed\n"
        return await handler()

    return route
