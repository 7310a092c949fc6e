"""A tiny HTTP/1.1 server for the daemon's own endpoints and the demo's local receiver.

A handful of routes do not justify a web framework and its event-loop integration; asyncio's
streams are enough. Requests are bounded in size and time; every response closes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

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


async def serve(host: str, port: int, routes: Mapping[str, Route]) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(10):
                request = await _read_request(reader)
            method = request.method if isinstance(request, Request) else "GET"
            if not isinstance(request, Request):
                status, ctype, body = request
            elif (route := routes.get(request.path)) is None:
                status, ctype, body = 404, "text/plain", b"not found\n"
            else:
                status, ctype, body = await route(request)
            writer.write(
                f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}\r\n"
                f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode("latin-1")
            )
            if method != "HEAD":
                writer.write(body)
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port, limit=_MAX_HEAD)


def get_only(handler: Callable[[], Awaitable[Response]]) -> Route:
    """A route that answers GET and HEAD with ``handler()``, and 405 to anything else."""

    async def route(request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return 405, "text/plain", b"method not allowed\n"
        return await handler()

    return route
