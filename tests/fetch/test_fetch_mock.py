"""Fetcher behaviour that needs no socket, on a mock transport: headers, conditional GET,
statuses, body caps, decoding, redirect decisions, Retry-After, limits and spacing.

What needs a real socket (the SSRF guard, connection reuse, deadlines) is in
test_fetch_http.py.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import itertools
import time
import tracemalloc
import zlib
from collections.abc import Callable
from email.utils import formatdate
from typing import TYPE_CHECKING

import httpx
import pytest

from monitor import __version__
from monitor.core.clock import Clock
from monitor.net.useragent import USER_AGENT
from tests.fetch.mock import MockSite, Route, endless, reply, response

if TYPE_CHECKING:
    from conftest import FetchRunner

FEED = b"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title></channel></rss>"


def test_ok_returns_body_validators_and_polite_headers(
    site: MockSite, fetch_mock: FetchRunner
) -> None:
    site.routes["/feed"] = reply(
        200,
        FEED,
        {
            "Content-Type": "application/rss+xml; charset=utf-8",
            "ETag": '"v1"',
            "Last-Modified": "Tue, 01 Oct 2024 10:00:00 GMT",
            "Cache-Control": "public, max-age=900",
        },
    )
    result = fetch_mock(site.url("/feed"))
    assert (result.outcome, result.status_code, result.body) == ("ok", 200, FEED)
    assert result.content_type == "application/rss+xml; charset=utf-8"
    assert (result.etag, result.last_modified) == ('"v1"', "Tue, 01 Oct 2024 10:00:00 GMT")
    assert result.max_age == 900.0
    assert result.bytes_read == len(FEED)
    assert result.url == site.url("/feed")
    sent = site.seen[0].headers
    assert sent["user-agent"].startswith(f"news-monitor/{__version__} (+https://")
    assert sent["user-agent"] == USER_AGENT
    assert sent["accept-encoding"] == "gzip, deflate"
    assert "application/rss+xml" in sent["accept"]
    assert "if-none-match" not in sent


def test_conditional_get_round_trip(site: MockSite, fetch_mock: FetchRunner) -> None:
    etag, modified = 'W/"abc 123"', "Wed, 02 Oct 2024 08:00:00 GMT"

    def conditional(request: httpx.Request) -> httpx.Response:
        if request.headers.get("If-None-Match") == etag:
            return response(304, headers={"ETag": etag})
        return response(200, FEED, {"ETag": etag, "Last-Modified": modified})

    site.routes["/feed"] = conditional
    first = fetch_mock(site.url("/feed"))
    second = fetch_mock(site.url("/feed"), etag=first.etag, last_modified=first.last_modified)
    assert first.outcome == "ok"
    assert (second.outcome, second.status_code, second.body) == ("not_modified", 304, b"")
    # Validators echo verbatim; a 304 without Last-Modified keeps the stored one.
    assert (second.etag, second.last_modified) == (etag, modified)
    assert site.seen[1].headers["if-none-match"] == etag
    assert site.seen[1].headers["if-modified-since"] == modified


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda b: zlib.compress(b)[2:-4]),  # raw deflate, as some servers send
    ],
)
def test_compressed_bodies_are_decoded(
    site: MockSite, fetch_mock: FetchRunner, encoding: str, encode: Callable[[bytes], bytes]
) -> None:
    site.routes["/z"] = reply(200, encode(FEED), {"Content-Encoding": encoding})
    result = fetch_mock(site.url("/z"))
    assert (result.outcome, result.body) == ("ok", FEED)


@functools.cache
def gzip_bomb() -> bytes:
    """64 MiB of zeros in about 64 KiB of gzip."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1024 * 1024)
    return b"".join(packer.compress(block) for _ in range(64)) + packer.flush()


def test_gzip_bomb_is_cut_off_without_inflating_it(site: MockSite, fetch_mock: FetchRunner) -> None:
    bomb = gzip_bomb()
    site.routes["/bomb"] = reply(200, bomb, {"Content-Encoding": "gzip"})
    tracemalloc.start()
    try:
        result = fetch_mock(site.url("/bomb"), max_bytes=1024 * 1024)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (result.outcome, result.error_kind, result.body) == ("error", "too_large", b"")
    assert "exceeds 1,048,576 bytes" in (result.error or "")
    assert peak < 8 * 1024 * 1024  # the 64 MiB never existed


def test_endless_body_stops_at_the_cap(site: MockSite, fetch_mock: FetchRunner) -> None:
    site.routes["/endless"] = endless
    started = time.monotonic()
    result = fetch_mock(site.url("/endless"), max_bytes=2 * 1024 * 1024)
    assert (result.outcome, result.error_kind) == ("error", "too_large")
    assert 2 * 1024 * 1024 < result.bytes_read < 4 * 1024 * 1024
    assert time.monotonic() - started < 3


def test_declared_oversize_body_is_refused_before_reading(
    site: MockSite, fetch_mock: FetchRunner
) -> None:
    site.routes["/big"] = reply(200, b"x" * 5000)
    result = fetch_mock(site.url("/big"), max_bytes=1000)
    assert (result.error_kind, result.bytes_read) == ("too_large", 0)


def redirect(status: int, to: str) -> Route:
    return reply(status, headers={"Location": to})


@pytest.mark.parametrize(
    ("statuses", "permanent_hops"),
    [
        ((301,), 1),
        ((308,), 1),
        ((302,), 0),
        ((307,), 0),
        ((303,), 0),
        ((301, 308), 2),
        ((308, 307), 1),  # the temporary hop's target is not the feed's new home
        ((307, 301), 0),  # the feed's own URL only redirects temporarily
    ],
)
def test_redirect_chain_reports_only_leading_permanent_hops(
    site: MockSite, fetch_mock: FetchRunner, statuses: tuple[int, ...], permanent_hops: int
) -> None:
    for i, status in enumerate(statuses):
        site.routes[f"/r{i}"] = redirect(status, f"/r{i + 1}")
    site.routes[f"/r{len(statuses)}"] = reply(200, FEED)
    result = fetch_mock(site.url("/r0"))
    assert (result.outcome, result.url) == ("ok", site.url(f"/r{len(statuses)}"))
    expected = site.url(f"/r{permanent_hops}") if permanent_hops else None
    assert result.permanent_redirect == expected


def test_redirect_loop_is_an_error(site: MockSite, fetch_mock: FetchRunner) -> None:
    site.routes["/a"] = redirect(302, "/b")
    site.routes["/b"] = redirect(302, site.url("/a"))
    result = fetch_mock(site.url("/a"))
    assert (result.outcome, result.error_kind) == ("error", "redirect_loop")
    assert site.paths() == ["/a", "/b"]


def test_too_many_redirects(site: MockSite, fetch_mock: FetchRunner) -> None:
    for i in range(10):
        site.routes[f"/r{i}"] = redirect(302, f"/r{i + 1}")
    result = fetch_mock(site.url("/r0"), max_redirects=3)
    assert result.error_kind == "too_many_redirects"
    assert len(site.seen) == 4


def test_redirect_without_location_is_an_http_error(
    site: MockSite, fetch_mock: FetchRunner
) -> None:
    site.routes["/r"] = reply(301)
    result = fetch_mock(site.url("/r"))
    assert (result.error_kind, result.status_code) == ("http_3xx", 301)
    assert "without a Location" in (result.error or "")


@pytest.mark.parametrize(
    ("target", "scheme"),
    [("file:///etc/passwd", "'file'"), ("ftp://127.0.0.1/feed", "'ftp'")],
)
def test_redirect_to_another_scheme_is_refused(
    site: MockSite, fetch_mock: FetchRunner, target: str, scheme: str
) -> None:
    site.routes["/r"] = redirect(302, target)
    result = fetch_mock(site.url("/r"))
    assert (result.outcome, result.error_kind) == ("error", "bad_url")
    assert f"unsupported URL scheme {scheme}" in (result.error or "")


@pytest.mark.parametrize(
    ("status", "headers", "kind", "retry_after"),
    [
        (404, {}, "http_404", None),
        (410, {}, "gone", None),
        (403, {}, "http_4xx", None),
        (500, {}, "http_5xx", None),
        (429, {"Retry-After": "120"}, "rate_limited", 120.0),
        (503, {"Retry-After": "86400"}, "http_5xx", 6 * 3600.0),
        (503, {"Retry-After": "Thu, 01 Jan 1970 00:00:00 GMT"}, "http_5xx", 0.0),
        (429, {"Retry-After": "soon"}, "rate_limited", None),
        (500, {"Retry-After": "120"}, "http_5xx", None),
    ],
)
def test_http_errors(
    site: MockSite,
    fetch_mock: FetchRunner,
    status: int,
    headers: dict[str, str],
    kind: str,
    retry_after: float | None,
) -> None:
    site.routes["/x"] = reply(status, b"oops", headers)
    result = fetch_mock(site.url("/x"))
    assert (result.outcome, result.status_code, result.error_kind) == ("error", status, kind)
    assert result.retry_after == retry_after
    assert result.body == b""
    assert f"HTTP {status}" in (result.error or "")


def test_retry_after_http_date_in_the_future(site: MockSite, fetch_mock: FetchRunner) -> None:
    now = 1_750_000_000.0
    when = formatdate(now + 600, usegmt=True)
    site.routes["/x"] = reply(429, headers={"Retry-After": when})
    result = fetch_mock(site.url("/x"), clock=Clock(wall=lambda: now))
    assert result.retry_after == 600.0  # read against the fetcher's clock


@pytest.mark.parametrize(
    ("encoding", "body", "message"),
    [
        ("br", b"\x0b\x02\x80hello\x03", "unsupported content-encoding 'br'"),
        ("gzip", b"\x1f\x8bnot gzip at all", "corrupt gzip body"),
    ],
)
def test_undecodable_bodies(
    site: MockSite, fetch_mock: FetchRunner, encoding: str, body: bytes, message: str
) -> None:
    site.routes["/z"] = reply(200, body, {"Content-Encoding": encoding})
    result = fetch_mock(site.url("/z"))
    assert (result.outcome, result.error_kind) == ("error", "decode")
    assert message in (result.error or "")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.org/feed", "unsupported URL scheme 'ftp'"),
        ("file:///etc/passwd", "unsupported URL scheme 'file'"),
        ("http:///feed", "no host in URL"),
        ("http://[::1/feed", "invalid URL"),
    ],
)
def test_unfetchable_urls(site: MockSite, fetch_mock: FetchRunner, url: str, message: str) -> None:
    result = fetch_mock(url)
    assert (result.outcome, result.error_kind) == ("error", "bad_url")
    assert message in (result.error or "")
    assert site.seen == []


def test_cookies_are_never_sent_back(site: MockSite, fetch_mock: FetchRunner) -> None:
    site.routes["/a"] = reply(200, FEED, {"Set-Cookie": "track=me; Path=/"})
    site.routes["/b"] = reply(200, FEED)
    results = fetch_mock.many([site.url("/a"), site.url("/b")], concurrency=1)
    assert [r.outcome for r in results] == ["ok", "ok"]
    assert site.paths() == ["/a", "/b"]
    assert all("cookie" not in s.headers for s in site.seen)


def test_credentials_in_the_url_stay_out_of_messages(
    site: MockSite, fetch_mock: FetchRunner
) -> None:
    result = fetch_mock(site.url("/missing").replace("//", "//user:secret@"))
    assert result.error_kind == "http_404"
    assert "secret" not in (result.error or "")


def concurrency_probe(site: MockSite, delay: float) -> dict[str, int]:
    """A route that records how many requests were inside it at once."""
    state = {"now": 0, "max": 0}

    async def slow(_request: httpx.Request) -> httpx.Response:
        state["now"] += 1
        state["max"] = max(state["max"], state["now"])
        await asyncio.sleep(delay)
        state["now"] -= 1
        return response(200, FEED)

    site.routes["/slow"] = slow
    return state


@pytest.mark.parametrize(
    ("limits", "expected_max"),
    [({"per_host": 2}, 2), ({"per_host": 5, "concurrency": 1}, 1), ({"per_host": 4}, 4)],
)
def test_concurrency_limits(
    site: MockSite, fetch_mock: FetchRunner, limits: dict[str, int], expected_max: int
) -> None:
    state = concurrency_probe(site, 0.1)
    results = fetch_mock.many([site.url("/slow")] * 6, **limits)
    assert [r.outcome for r in results] == ["ok"] * 6
    assert state["max"] == expected_max


def test_per_host_gap_spaces_request_starts(site: MockSite, fetch_mock: FetchRunner) -> None:
    site.routes["/feed"] = reply(200, FEED)
    fetch_mock.many([site.url("/feed")] * 3, per_host=3, per_host_gap=0.15)
    starts = [s.at for s in site.seen]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert len(gaps) == 2
    assert min(gaps) >= 0.14


def test_a_queue_at_one_host_does_not_hold_back_other_hosts(
    site: MockSite, fetch_mock: FetchRunner
) -> None:
    site.routes["/busy"] = reply(200, FEED)
    site.routes["/other"] = reply(200, FEED)
    busy = [site.url("/busy")] * 4  # one at a time, 0.4 s apart: 1.2 s of turns
    other = site.url("/other", host="other.test")
    results = fetch_mock.many([*busy, other], concurrency=2, per_host=1, per_host_gap=0.4)
    assert [r.outcome for r in results] == ["ok"] * 5
    started = {s.path: s.at for s in reversed(site.seen)}  # each path's first request
    first_busy = min(s.at for s in site.seen if s.path == "/busy")
    assert started["/other"] - first_busy < 0.3  # not after the busy host's queue (1.2 s)
