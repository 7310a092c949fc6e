"""Fetch one feed over HTTP: polite (conditional GET, per-host limits, honest User-Agent) and
tough (SSRF guard on every hop, streamed size cap after decompression, overall deadline).

``Fetcher.fetch`` never raises for network, server or content problems: every failure is a
``FetchResult`` with ``outcome="error"``, a short ``error_kind`` and one readable line.
"""

from __future__ import annotations

import http.cookiejar
import re
import ssl
import time
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from urllib.parse import urlsplit, urlunsplit

import anyio
import httpx

from monitor import __version__
from monitor.errors import FetchError
from monitor.models import FetchResult
from monitor.net.clients import OneConnectionClients, one_connection_transport
from monitor.net.guard import NetworkPolicy

USER_AGENT = f"news-monitor/{__version__} (+https://github.com/news-monitor/news-monitor)"
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, "
    "application/rdf+xml;q=0.9, application/xml;q=0.9, text/xml;q=0.9, "
    "application/json;q=0.8, */*;q=0.5"
)
# Only encodings we can inflate with a bounded output size (zlib's max_length).
ACCEPT_ENCODING = "gzip, deflate"
RETRY_AFTER_MAX = 6 * 3600.0
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_PERMANENT_STATUSES = frozenset({301, 308})
_INFLATE_STEP = 64 * 1024  # decompressed bytes produced per zlib call
_DIGITS = re.compile(r"[0-9]{1,10}")
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?([0-9]{1,10})\"?\s*(?:,|$)", re.IGNORECASE)
_NO_STORE = re.compile(r"(?:^|,)\s*(?:no-store|no-cache)\s*(?:,|$|=)", re.IGNORECASE)


# --- pure helpers -----------------------------------------------------------------------------


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After value (delay-seconds or HTTP-date), capped."""
    if not value:
        return None
    value = value.strip()
    if _DIGITS.fullmatch(value):
        seconds = float(value)
    else:
        when = _http_date(value)
        if when is None:
            return None
        seconds = (when - now).total_seconds()
    return min(max(seconds, 0.0), RETRY_AFTER_MAX)


def parse_max_age(headers: Mapping[str, str], now: datetime) -> float | None:
    """Freshness lifetime in seconds: Cache-Control max-age, else Expires minus Date.

    no-store/no-cache mean 0; an unparseable Expires means already expired (RFC 9111).
    """
    cache_control = headers.get("cache-control", "")
    if _NO_STORE.search(cache_control):
        return 0.0
    max_age = _MAX_AGE.search(cache_control)
    if max_age:
        return float(max_age.group(1))
    expires = headers.get("expires")
    if expires is None:
        return None
    expiry = _http_date(expires)
    if expiry is None:
        return 0.0
    origin = _http_date(headers.get("date", "")) or now
    return max((expiry - origin).total_seconds(), 0.0)


def _http_date(value: str) -> datetime | None:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def display_url(url: str) -> str:
    """``url`` without user:password, for messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _url_problem(url: str) -> str | None:
    """Why ``url`` cannot be fetched at all, or None."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        return f"invalid URL {url!r}: {exc}"
    if parts.scheme not in ("http", "https"):
        return f"unsupported URL scheme {parts.scheme!r} in {display_url(url)} (http or https only)"
    if not parts.hostname:
        return f"no host in URL {display_url(url)}"
    return None


def _status_kind(status: int) -> str:
    if status == 404:
        return "http_404"
    if status == 410:
        return "gone"
    if status == 429:
        return "rate_limited"
    return f"http_{status // 100}xx"


class BodyTooLargeError(Exception):
    """The decompressed body passed the size cap."""


class Inflater:
    """Bounded, incremental decoder for a Content-Encoding (identity, gzip, deflate).

    ``feed`` yields pieces of at most 64 KiB however well the input compresses, so a
    decompression bomb is stopped by the caller's size count, never held in memory.
    """

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding.strip().lower() or "identity"
        if self.encoding not in ("identity", "gzip", "x-gzip", "deflate"):
            raise FetchError("decode", f"unsupported content-encoding {encoding!r}")
        self._zlib: zlib._Decompress | None = None
        self._head = b""  # deflate: bytes held until the zlib header can be checked

    def _new_decompressor(self, data: bytes) -> zlib._Decompress:
        if self.encoding == "deflate":
            # "deflate" should be zlib-wrapped; some servers send a raw deflate stream.
            wrapped = len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
            return zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        return zlib.decompressobj(16 + zlib.MAX_WBITS)

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self.encoding == "identity":
            if data:
                yield data
            return
        if self._zlib is None:
            self._head += data
            if len(self._head) < 2:
                return
            data, self._head = self._head, b""
            self._zlib = self._new_decompressor(data)
        try:
            while data:
                piece = self._zlib.decompress(data, _INFLATE_STEP)
                if piece:
                    yield piece
                data = self._zlib.unconsumed_tail
                if self._zlib.eof:
                    # A gzip body may be several members back to back; anything after a
                    # deflate stream's end is trailing garbage.
                    rest = self._zlib.unused_data
                    if self.encoding == "deflate" or not rest.strip(b"\0"):
                        return
                    self._zlib = self._new_decompressor(rest)
                    data = rest
        except zlib.error as exc:
            raise FetchError("decode", f"corrupt {self.encoding} body: {exc}") from None

    def finish(self) -> None:
        """Raise if the compressed stream stopped before its end (a truncated body)."""
        if self.encoding != "identity" and (self._zlib is None or not self._zlib.eof):
            raise FetchError("decode", f"truncated {self.encoding} body")


# --- the fetcher ------------------------------------------------------------------------------


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


def _describe(exc: Exception, url: str, timeout: float) -> tuple[str, str]:
    """(error_kind, message) for an exception raised while talking to ``url``."""
    where = display_url(url)
    if isinstance(exc, FetchError):
        return exc.kind, f"{exc} ({where})" if exc.kind != "refused" else str(exc)
    if isinstance(exc, httpx.TimeoutException):
        phase = {
            httpx.ConnectTimeout: "connecting",
            httpx.ReadTimeout: "waiting for data",
            httpx.WriteTimeout: "sending the request",
            httpx.PoolTimeout: "waiting for a connection",
        }.get(type(exc), "talking to the server")
        return "timeout", f"timeout: nothing for {timeout:g} s while {phase} ({where})"
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return "bad_url", f"bad URL {where}: {exc}"
    if isinstance(exc, httpx.ConnectError) and isinstance(exc.__context__, ssl.SSLError):
        return "tls", f"TLS error with {where}: {exc}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "protocol", f"protocol error from {where}: {exc}"
    return "network", f"network error with {where}: {exc or type(exc).__name__}"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}".lower()


class Fetcher:
    """Fetches feeds through one-connection httpx clients kept per origin (no cookies, no
    environment proxies)."""

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
    ) -> None:
        self._timeout = timeout
        self._deadline = deadline
        self._max_bytes = max_bytes
        self._max_redirects = max_redirects
        self._per_host = per_host
        self._per_host_gap = per_host_gap
        self._global = anyio.Semaphore(concurrency)
        self._hosts: dict[str, _HostSlot] = {}
        self._clients = OneConnectionClients(
            lambda: httpx.AsyncClient(
                transport=one_connection_transport(policy),
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

    async def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult:
        """GET ``url`` conditionally; follow redirects; return the outcome as a value."""
        problem = _url_problem(url)
        if problem is not None:
            return FetchResult("error", url, error_kind="bad_url", error=problem)
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        progress = _Progress(url, visited={url})
        host = (urlsplit(url).hostname or "").lower()
        slot = self._hosts.setdefault(host, _HostSlot(anyio.Semaphore(self._per_host)))
        # The host's turn first, then a global slot: fetches queued behind one busy host
        # must not hold the global slots that other hosts' fetches need.
        async with slot.semaphore:
            await self._wait_turn(slot)
            async with self._global:
                started = time.monotonic()
                result: FetchResult | None = None
                with anyio.move_on_after(self._deadline):
                    result = await self._follow(progress, headers, etag, last_modified)
        if result is None:
            result = FetchResult(
                "error",
                progress.url,
                error_kind="deadline",
                error=f"deadline: no complete response within {self._deadline:g} s "
                f"({display_url(progress.url)})",
            )
        return replace(
            result,
            permanent_redirect=progress.permanent_redirect,
            elapsed=time.monotonic() - started,
            bytes_read=progress.bytes_read,
        )

    async def _wait_turn(self, slot: _HostSlot) -> None:
        """Keep at least ``per_host_gap`` seconds between request starts to one host."""
        now = time.monotonic()
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
            problem = _url_problem(progress.url)
            if problem is not None:
                return FetchResult("error", progress.url, error_kind="bad_url", error=problem)
            try:
                async with self._clients.client(_origin(progress.url)) as client:
                    request = client.build_request("GET", progress.url, headers=headers)
                    response = await client.send(request, stream=True)
                    try:
                        target = self._redirect_target(response, progress)
                        if target is None:
                            return await self._finish(response, progress, etag, last_modified)
                    finally:
                        await response.aclose()
            except (httpx.HTTPError, httpx.InvalidURL, FetchError, OSError) as exc:
                kind, message = _describe(exc, progress.url, self._timeout)
                return FetchResult("error", progress.url, error_kind=kind, error=message)
            if target in progress.visited:
                return FetchResult(
                    "error",
                    progress.url,
                    status_code=response.status_code,
                    error_kind="redirect_loop",
                    error=f"redirect loop: {display_url(progress.url)} leads back to "
                    f"{display_url(target)}",
                )
            progress.visited.add(target)
            progress.url = target
        return FetchResult(
            "error",
            progress.url,
            error_kind="too_many_redirects",
            error=f"more than {self._max_redirects} redirects, last to {display_url(progress.url)}",
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
        now = datetime.now(UTC)
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
                    error=f"too large: body of {display_url(progress.url)} exceeds "
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
            error_kind=_status_kind(status),
            error=f"HTTP {status} {reason} from {display_url(progress.url)}{detail}",
            retry_after=(
                parse_retry_after(headers.get("retry-after"), now) if status in (429, 503) else None
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
