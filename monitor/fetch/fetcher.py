"""Fetch one feed over HTTP: polite (conditional GET, per-host limits, honest User-Agent) and
tough (SSRF guard on every hop, streamed size cap after decompression, overall deadline).

``Fetcher.fetch`` never raises for network, server or content problems: every failure is a
``FetchResult`` with ``outcome="error"``, a short ``error_kind`` and one readable line.
"""

from __future__ import annotations

import http.cookiejar
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import TracebackType

import anyio
import httpx

from monitor.core.clock import SYSTEM_CLOCK, Clock
from monitor.core.httpdate import parse_retry_after
from monitor.errors import FetchError
from monitor.fetch.caching import conditional_headers, parse_max_age
from monitor.fetch.failures import describe, status_kind
from monitor.fetch.inflate import ACCEPT_ENCODING, Inflater
from monitor.fetch.urls import host, origin, url_problem
from monitor.models import FetchResult
from monitor.net.clients import OneConnectionClients, one_connection_transport
from monitor.net.guard import NetworkPolicy
from monitor.net.useragent import USER_AGENT
from monitor.redact import redact_url

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, "
    "application/rdf+xml;q=0.9, application/xml;q=0.9, text/xml;q=0.9, "
    "application/json;q=0.8, */*;q=0.5"
)
RETRY_AFTER_MAX = 6 * 3600.0
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_PERMANENT_STATUSES = frozenset({301, 308})


class BodyTooLargeError(Exception):
    """The decompressed body passed the size cap."""


@dataclass(slots=True)
class _Progress:
    """What a fetch has reached so far: reported even when the deadline cuts it off."""

    url: str
    bytes_read: int = 0
    permanent_redirect: str | None = None
    still_permanent: bool = True  # every hop so far was 301/308
    visited: set[str] = field(default_factory=set)


@dataclass(slots=True)
class _HostSlot:
    semaphore: anyio.Semaphore
    next_start: float = 0.0  # monotonic time before which no new request may start


def _no_cookies() -> http.cookiejar.CookieJar:
    """A cookie jar that accepts nothing: feeds must not track us, nor leak into each other.

    Passed to httpx as a bare CookieJar: wrapped in ``httpx.Cookies`` it would be copied
    into a default jar and lose this policy.
    """
    return http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))


class _SharedTransport(httpx.AsyncBaseTransport):
    """A given transport as every lent-out client's: a client closed when it goes idle too
    long must not close it for the others (``Fetcher.aclose`` closes it, once)."""

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self._transport = transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._transport.handle_async_request(request)


class Fetcher:
    """Fetches feeds through one-connection httpx clients kept per origin (no cookies, no
    environment proxies).

    ``transport``, when given, carries every request instead of the SSRF-guarded
    one-connection transports (``policy`` is then not applied): tests put an
    ``httpx.MockTransport`` there. ``clock`` reads the time for elapsed times, per-host gaps
    and the dates of Retry-After and Expires.
    """

    def __init__(
        self,
        *,
        policy: NetworkPolicy,
        user_agent: str = USER_AGENT,
        timeout: float = 30.0,
        deadline: float = 60.0,
        max_bytes: int = 10 * 1024 * 1024,
        max_redirects: int = 5,
        concurrency: int = 32,
        per_host: int = 2,
        per_host_gap: float = 0.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._timeout = timeout
        self._deadline = deadline
        self._max_bytes = max_bytes
        self._max_redirects = max_redirects
        self._per_host = per_host
        self._per_host_gap = per_host_gap
        self._transport = transport
        self._clock = clock
        self._global = anyio.Semaphore(concurrency)
        self._hosts: dict[str, _HostSlot] = {}
        self._clients = OneConnectionClients(
            lambda: httpx.AsyncClient(
                transport=(
                    one_connection_transport(policy)
                    if transport is None
                    else _SharedTransport(transport)
                ),
                timeout=httpx.Timeout(timeout),
                follow_redirects=False,  # followed by hand: each hop is classified and checked
                trust_env=False,  # an environment proxy would bypass the SSRF guard
                cookies=_no_cookies(),
                headers={
                    "User-Agent": user_agent,
                    "Accept": ACCEPT,
                    "Accept-Encoding": ACCEPT_ENCODING,
                },
            ),
            max_idle=concurrency,
        )

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._clients.aclose()
        if self._transport is not None:
            await self._transport.aclose()

    async def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult:
        """GET ``url`` conditionally; follow redirects; return the outcome as a value."""
        problem = url_problem(url)
        if problem is not None:
            return FetchResult("error", url, error_kind="bad_url", error=problem)
        headers = conditional_headers(etag, last_modified)
        progress = _Progress(url, visited={url})
        slot = self._hosts.setdefault(host(url), _HostSlot(anyio.Semaphore(self._per_host)))
        # The host's turn first, then a global slot: fetches queued behind one busy host
        # must not hold the global slots that other hosts' fetches need.
        async with slot.semaphore:
            await self._wait_turn(slot)
            async with self._global:
                started = self._clock.monotonic()
                result: FetchResult | None = None
                with anyio.move_on_after(self._deadline):
                    result = await self._follow(progress, headers, etag, last_modified)
        if result is None:
            result = FetchResult(
                "error",
                progress.url,
                error_kind="deadline",
                error=f"deadline: no complete response within {self._deadline:g} s "
                f"({redact_url(progress.url)})",
            )
        return replace(
            result,
            permanent_redirect=progress.permanent_redirect,
            elapsed=self._clock.monotonic() - started,
            bytes_read=progress.bytes_read,
        )

    async def _wait_turn(self, slot: _HostSlot) -> None:
        """Keep at least ``per_host_gap`` seconds between request starts to one host."""
        now = self._clock.monotonic()
        start = max(now, slot.next_start)
        slot.next_start = start + self._per_host_gap
        if start > now:
            await anyio.sleep(start - now)

    async def _follow(
        self,
        progress: _Progress,
        headers: dict[str, str],
        etag: str | None,
        last_modified: str | None,
    ) -> FetchResult:
        for _hop in range(self._max_redirects + 1):
            problem = url_problem(progress.url)
            if problem is not None:
                return FetchResult("error", progress.url, error_kind="bad_url", error=problem)
            try:
                async with self._clients.client(origin(progress.url)) as client:
                    request = client.build_request("GET", progress.url, headers=headers)
                    response = await client.send(request, stream=True)
                    try:
                        target = self._redirect_target(response, progress)
                        if target is None:
                            return await self._finish(response, progress, etag, last_modified)
                    finally:
                        await response.aclose()
            except (httpx.HTTPError, httpx.InvalidURL, FetchError, OSError) as exc:
                kind, message = describe(exc, progress.url, self._timeout)
                return FetchResult("error", progress.url, error_kind=kind, error=message)
            if target in progress.visited:
                return FetchResult(
                    "error",
                    progress.url,
                    status_code=response.status_code,
                    error_kind="redirect_loop",
                    error=f"redirect loop: {redact_url(progress.url)} leads back to "
                    f"{redact_url(target)}",
                )
            progress.visited.add(target)
            progress.url = target
        return FetchResult(
            "error",
            progress.url,
            error_kind="too_many_redirects",
            error=f"more than {self._max_redirects} redirects, last to {redact_url(progress.url)}",
        )

    @staticmethod
    def _redirect_target(response: httpx.Response, progress: _Progress) -> str | None:
        """The absolute URL a 3xx response points to (recording permanence), else None."""
        location = response.headers.get("location")
        if response.status_code not in _REDIRECT_STATUSES or not location:
            return None
        target = str(response.url.join(location.strip()))
        # Only an unbroken run of permanent hops from the start moves the feed for good.
        progress.still_permanent &= response.status_code in _PERMANENT_STATUSES
        if progress.still_permanent:
            progress.permanent_redirect = target
        return target

    async def _finish(
        self,
        response: httpx.Response,
        progress: _Progress,
        etag: str | None,
        last_modified: str | None,
    ) -> FetchResult:
        """Turn the final response of the chain into a result (reading the body if 2xx)."""
        now = datetime.fromtimestamp(self._clock.wall(), UTC)
        status = response.status_code
        headers = response.headers
        base = FetchResult(
            "error",
            progress.url,
            status_code=status,
            content_type=headers.get("content-type"),
            max_age=parse_max_age(headers, now),
        )
        if status == 304:
            # A 304 has no body, but httpcore keeps the connection only once the (empty)
            # message is read to its end; unread, every revalidation costs a new connection.
            await response.aread()
            return replace(
                base,
                outcome="not_modified",
                etag=headers.get("etag", etag),
                last_modified=headers.get("last-modified", last_modified),
            )
        if 200 <= status < 300:
            try:
                body = await self._read_body(response, progress)
            except BodyTooLargeError:
                return replace(
                    base,
                    error_kind="too_large",
                    error=f"too large: body of {redact_url(progress.url)} exceeds "
                    f"{self._max_bytes:,} bytes",
                )
            return replace(
                base,
                outcome="ok",
                body=body,
                etag=headers.get("etag"),
                last_modified=headers.get("last-modified"),
            )
        reason = response.reason_phrase or "error"
        detail = " (redirect without a Location header)" if status in _REDIRECT_STATUSES else ""
        return replace(
            base,
            error_kind=status_kind(status),
            error=f"HTTP {status} {reason} from {redact_url(progress.url)}{detail}",
            retry_after=(
                parse_retry_after(headers.get("retry-after"), now, cap=RETRY_AFTER_MAX)
                if status in (429, 503)
                else None
            ),
        )

    async def _read_body(self, response: httpx.Response, progress: _Progress) -> bytes:
        """The decompressed body, streamed; ``BodyTooLargeError`` as soon as it passes the cap."""
        inflater = Inflater(response.headers.get("content-encoding", ""))
        declared = response.headers.get("content-length", "")
        if (
            inflater.encoding == "identity"
            and declared.isdigit()
            and int(declared) > self._max_bytes
        ):
            raise BodyTooLargeError
        pieces: list[bytes] = []
        size = 0
        async for chunk in response.aiter_raw():
            progress.bytes_read += len(chunk)
            for piece in inflater.feed(chunk):
                size += len(piece)
                if size > self._max_bytes:
                    raise BodyTooLargeError
                pieces.append(piece)
        inflater.finish()
        return b"".join(pieces)
