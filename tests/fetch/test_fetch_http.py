"""Fetcher against real misbehaving servers on 127.0.0.1: outcomes, redirects, limits."""

from __future__ import annotations

import asyncio
import functools
import gzip
import itertools
import socket
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from monitor import __version__
from monitor.fetch.fetcher import Fetcher
from monitor.models import FetchResult
from monitor.net.guard import NetworkPolicy
from tests.fetch.server import drip, endless

if TYPE_CHECKING:
    from conftest import FetchRunner

    from tests.fetch.server import Handler, Server

FEED = b"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title></channel></rss>"


def test_ok_returns_body_validators_and_polite_headers(server: Server, fetch: FetchRunner) -> None:
    server.routes["/feed"] = lambda h: h.reply(
        200,
        FEED,
        {
            "Content-Type": "application/rss+xml; charset=utf-8",
            "ETag": '"v1"',
            "Last-Modified": "Tue, 01 Oct 2024 10:00:00 GMT",
            "Cache-Control": "public, max-age=900",
        },
    )
    result = fetch(server.url("/feed"))
    assert (result.outcome, result.status_code, result.body) == ("ok", 200, FEED)
    assert result.content_type == "application/rss+xml; charset=utf-8"
    assert (result.etag, result.last_modified) == ('"v1"', "Tue, 01 Oct 2024 10:00:00 GMT")
    assert result.max_age == 900.0
    assert result.bytes_read == len(FEED)
    assert result.url == server.url("/feed")
    sent = server.seen[0].headers
    assert sent["user-agent"].startswith(f"news-monitor/{__version__} (+https://")
    assert sent["accept-encoding"] == "gzip, deflate"
    assert "application/rss+xml" in sent["accept"]
    assert "if-none-match" not in sent


def test_conditional_get_round_trip(server: Server, fetch: FetchRunner) -> None:
    etag, modified = 'W/"abc 123"', "Wed, 02 Oct 2024 08:00:00 GMT"

    def conditional(h: Handler) -> None:
        if h.headers.get("If-None-Match") == etag:
            h.reply(304, headers={"ETag": etag})
        else:
            h.reply(200, FEED, {"ETag": etag, "Last-Modified": modified})

    server.routes["/feed"] = conditional
    first = fetch(server.url("/feed"))
    second = fetch(server.url("/feed"), etag=first.etag, last_modified=first.last_modified)
    assert first.outcome == "ok"
    assert (second.outcome, second.status_code, second.body) == ("not_modified", 304, b"")
    # Validators echo verbatim; a 304 without Last-Modified keeps the stored one.
    assert (second.etag, second.last_modified) == (etag, modified)
    assert server.seen[1].headers["if-none-match"] == etag
    assert server.seen[1].headers["if-modified-since"] == modified


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda b: zlib.compress(b)[2:-4]),  # raw deflate, as some servers send
    ],
)
def test_compressed_bodies_are_decoded(
    server: Server, fetch: FetchRunner, encoding: str, encode: Callable[[bytes], bytes]
) -> None:
    server.routes["/z"] = lambda h: h.reply(200, encode(FEED), {"Content-Encoding": encoding})
    result = fetch(server.url("/z"))
    assert (result.outcome, result.body) == ("ok", FEED)


@functools.cache
def gzip_bomb() -> bytes:
    """64 MiB of zeros in about 64 KiB of gzip."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1024 * 1024)
    return b"".join(packer.compress(block) for _ in range(64)) + packer.flush()


def test_gzip_bomb_is_cut_off_without_inflating_it(server: Server, fetch: FetchRunner) -> None:
    bomb = gzip_bomb()
    server.routes["/bomb"] = lambda h: h.reply(200, bomb, {"Content-Encoding": "gzip"})
    tracemalloc.start()
    try:
        result = fetch(server.url("/bomb"), max_bytes=1024 * 1024)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (result.outcome, result.error_kind, result.body) == ("error", "too_large", b"")
    assert "exceeds 1,048,576 bytes" in (result.error or "")
    assert peak < 8 * 1024 * 1024  # the 64 MiB never existed


def test_endless_body_stops_at_the_cap(server: Server, fetch: FetchRunner) -> None:
    server.routes["/endless"] = endless
    started = time.monotonic()
    result = fetch(server.url("/endless"), max_bytes=2 * 1024 * 1024)
    assert (result.outcome, result.error_kind) == ("error", "too_large")
    assert 2 * 1024 * 1024 < result.bytes_read < 4 * 1024 * 1024
    assert time.monotonic() - started < 3


def test_declared_oversize_body_is_refused_before_reading(
    server: Server, fetch: FetchRunner
) -> None:
    server.routes["/big"] = lambda h: h.reply(200, b"x" * 5000)
    result = fetch(server.url("/big"), max_bytes=1000)
    assert (result.error_kind, result.bytes_read) == ("too_large", 0)


def test_slow_drip_is_cut_by_the_deadline_not_the_idle_timeout(
    server: Server, fetch: FetchRunner
) -> None:
    server.routes["/drip"] = drip
    result = fetch(server.url("/drip"), timeout=1.0, deadline=0.5)
    assert (result.outcome, result.error_kind) == ("error", "deadline")
    assert "within 0.5 s" in (result.error or "")
    assert 0.5 <= result.elapsed < 1.0
    assert result.bytes_read > 0


def stall(h: Handler) -> None:
    h.send_response(200)
    h.send_header("Content-Length", "100")
    h.end_headers()
    h.server.stopping.wait(5)


def test_stalled_server_hits_the_idle_timeout(server: Server, fetch: FetchRunner) -> None:
    server.routes["/stall"] = stall
    result = fetch(server.url("/stall"), timeout=0.3)
    assert (result.error_kind, result.url) == ("timeout", server.url("/stall"))
    assert "waiting for data" in (result.error or "")


def redirect(status: int, to: str) -> Callable[[Handler], None]:
    return lambda h: h.reply(status, headers={"Location": to})


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
    server: Server, fetch: FetchRunner, statuses: tuple[int, ...], permanent_hops: int
) -> None:
    for i, status in enumerate(statuses):
        server.routes[f"/r{i}"] = redirect(status, f"/r{i + 1}")
    server.routes[f"/r{len(statuses)}"] = lambda h: h.reply(200, FEED)
    result = fetch(server.url("/r0"))
    assert (result.outcome, result.url) == ("ok", server.url(f"/r{len(statuses)}"))
    expected = server.url(f"/r{permanent_hops}") if permanent_hops else None
    assert result.permanent_redirect == expected


def test_redirect_loop_is_an_error(server: Server, fetch: FetchRunner) -> None:
    server.routes["/a"] = redirect(302, "/b")
    server.routes["/b"] = redirect(302, server.url("/a"))
    result = fetch(server.url("/a"))
    assert (result.outcome, result.error_kind) == ("error", "redirect_loop")
    assert server.paths() == ["/a", "/b"]


def test_too_many_redirects(server: Server, fetch: FetchRunner) -> None:
    for i in range(10):
        server.routes[f"/r{i}"] = redirect(302, f"/r{i + 1}")
    result = fetch(server.url("/r0"), max_redirects=3)
    assert result.error_kind == "too_many_redirects"
    assert len(server.seen) == 4


def test_redirect_without_location_is_an_http_error(server: Server, fetch: FetchRunner) -> None:
    server.routes["/r"] = lambda h: h.reply(301)
    result = fetch(server.url("/r"))
    assert (result.error_kind, result.status_code) == ("http_3xx", 301)
    assert "without a Location" in (result.error or "")


@pytest.mark.parametrize(
    ("target", "scheme"),
    [("file:///etc/passwd", "'file'"), ("ftp://127.0.0.1/feed", "'ftp'")],
)
def test_redirect_to_another_scheme_is_refused(
    server: Server, fetch: FetchRunner, target: str, scheme: str
) -> None:
    server.routes["/r"] = redirect(302, target)
    result = fetch(server.url("/r"))
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
    server: Server,
    fetch: FetchRunner,
    status: int,
    headers: dict[str, str],
    kind: str,
    retry_after: float | None,
) -> None:
    server.routes["/x"] = lambda h: h.reply(status, b"oops", headers)
    result = fetch(server.url("/x"))
    assert (result.outcome, result.status_code, result.error_kind) == ("error", status, kind)
    assert result.retry_after == retry_after
    assert result.body == b""
    assert f"HTTP {status}" in (result.error or "")


def test_retry_after_http_date_in_the_future(server: Server, fetch: FetchRunner) -> None:
    when = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 600))
    server.routes["/x"] = lambda h: h.reply(429, headers={"Retry-After": when})
    result = fetch(server.url("/x"))
    assert result.retry_after is not None
    assert 590 <= result.retry_after <= 600


def test_connection_refused_is_a_network_error(fetch: FetchRunner) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago, now closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = fetch(f"http://127.0.0.1:{port}/feed")
    assert (result.outcome, result.error_kind) == ("error", "network")
    assert f"127.0.0.1:{port}" in (result.error or "")


def test_server_hanging_up_mid_body_is_a_protocol_error(server: Server, fetch: FetchRunner) -> None:
    def hang_up(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", "1000")
        h.end_headers()
        h.wfile.write(b"<rss>")
        h.close_connection = True

    server.routes["/cut"] = hang_up
    result = fetch(server.url("/cut"))
    assert (result.outcome, result.error_kind) == ("error", "protocol")


@pytest.mark.parametrize(
    ("encoding", "body", "message"),
    [
        ("br", b"\x0b\x02\x80hello\x03", "unsupported content-encoding 'br'"),
        ("gzip", b"\x1f\x8bnot gzip at all", "corrupt gzip body"),
    ],
)
def test_undecodable_bodies(
    server: Server, fetch: FetchRunner, encoding: str, body: bytes, message: str
) -> None:
    server.routes["/z"] = lambda h: h.reply(200, body, {"Content-Encoding": encoding})
    result = fetch(server.url("/z"))
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
def test_unfetchable_urls(fetch: FetchRunner, url: str, message: str) -> None:
    result = fetch(url)
    assert (result.outcome, result.error_kind) == ("error", "bad_url")
    assert message in (result.error or "")


def test_cookies_are_never_sent_back(server: Server, fetch: FetchRunner) -> None:
    server.routes["/a"] = lambda h: h.reply(200, FEED, {"Set-Cookie": "track=me; Path=/"})
    server.routes["/b"] = lambda h: h.reply(200, FEED)
    results = fetch.many([server.url("/a"), server.url("/b")], concurrency=1)
    assert [r.outcome for r in results] == ["ok", "ok"]
    assert server.paths() == ["/a", "/b"]
    assert all("cookie" not in s.headers for s in server.seen)


def test_credentials_in_the_url_stay_out_of_messages(server: Server, fetch: FetchRunner) -> None:
    result = fetch(server.url("/missing").replace("//", "//user:secret@"))
    assert result.error_kind == "http_404"
    assert "secret" not in (result.error or "")


def concurrency_probe(server: Server, delay: float) -> dict[str, int]:
    """A route that records how many requests were inside it at once."""
    state = {"now": 0, "max": 0}
    lock = threading.Lock()

    def slow(h: Handler) -> None:
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(delay)
        with lock:
            state["now"] -= 1
        h.reply(200, FEED)

    server.routes["/slow"] = slow
    return state


@pytest.mark.parametrize(
    ("limits", "expected_max"),
    [({"per_host": 2}, 2), ({"per_host": 5, "concurrency": 1}, 1), ({"per_host": 4}, 4)],
)
def test_concurrency_limits(
    server: Server, fetch: FetchRunner, limits: dict[str, int], expected_max: int
) -> None:
    state = concurrency_probe(server, 0.1)
    results = fetch.many([server.url("/slow")] * 6, **limits)
    assert [r.outcome for r in results] == ["ok"] * 6
    assert state["max"] == expected_max


def test_per_host_gap_spaces_request_starts(server: Server, fetch: FetchRunner) -> None:
    server.routes["/feed"] = lambda h: h.reply(200, FEED)
    fetch.many([server.url("/feed")] * 3, per_host=3, per_host_gap=0.15)
    starts = [s.at for s in server.seen]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert len(gaps) == 2
    assert min(gaps) >= 0.14


def test_private_address_refused_unless_allowed(server: Server, fetch: FetchRunner) -> None:
    server.routes["/feed"] = lambda h: h.reply(200, FEED)
    refused = fetch(server.url("/feed"), policy=NetworkPolicy())
    allowed = fetch(server.url("/feed"), policy=NetworkPolicy(allow_private=True))
    by_cidr = fetch(server.url("/feed"), policy=NetworkPolicy(allow_cidrs=("127.0.0.0/8",)))
    assert (refused.outcome, refused.error_kind) == ("error", "refused")
    assert refused.error is not None
    assert refused.error.startswith("refused: 127.0.0.1, a loopback address; set network.")
    assert (allowed.outcome, by_cidr.outcome) == ("ok", "ok")
    assert server.paths() == ["/feed", "/feed"]  # the refused fetch never arrived


def test_hostname_is_checked_on_its_resolved_address(server: Server, fetch: FetchRunner) -> None:
    server.routes["/feed"] = lambda h: h.reply(200, FEED)
    result = fetch(server.url("/feed", host="localhost"), policy=NetworkPolicy())
    assert result.error_kind == "refused"
    assert (result.error or "").startswith("refused: localhost resolves to ")
    assert "allow_private or network.allow_cidrs" in (result.error or "")
    assert server.seen == []


def test_redirect_to_a_private_address_is_refused_before_connecting(
    server: Server, fetch: FetchRunner
) -> None:
    server.routes["/r"] = redirect(302, "http://10.0.0.1/internal")
    started = time.monotonic()
    result = fetch(server.url("/r"), policy=NetworkPolicy(allow_cidrs=("127.0.0.1/32",)))
    assert (result.outcome, result.error_kind) == ("error", "refused")
    assert result.url == "http://10.0.0.1/internal"
    assert "10.0.0.1, a private address" in (result.error or "")
    assert time.monotonic() - started < 1  # no connect attempt, so no connect timeout


def test_a_pooled_connection_the_server_closed_is_not_reused(
    server: Server, fetch: FetchRunner
) -> None:
    def reply_and_hang_up(h: Handler) -> None:
        h.reply(200, FEED)  # keep-alive as far as the client knows...
        h.close_connection = True  # ...but the server closes it

    server.routes["/feed"] = reply_and_hang_up

    async def twice() -> list[FetchResult]:
        async with Fetcher(policy=NetworkPolicy(allow_private=True)) as fetcher:
            first = await fetcher.fetch(server.url("/feed"))
            await asyncio.sleep(0.2)  # the FIN arrives: the idle connection reads as EOF
            return [first, await fetcher.fetch(server.url("/feed"))]

    results = asyncio.run(twice())
    assert [r.outcome for r in results] == ["ok", "ok"]


def test_revalidations_reuse_one_connection(server: Server, fetch: FetchRunner) -> None:
    ports: list[int] = []

    def not_modified(h: Handler) -> None:
        ports.append(h.client_address[1])
        h.reply(304, headers={"ETag": '"v1"'})

    server.routes["/feed"] = not_modified
    results = fetch.many([server.url("/feed")] * 4, etag='"v1"', concurrency=1)
    assert [r.outcome for r in results] == ["not_modified"] * 4
    assert len(set(ports)) == 1  # keep-alive: the empty 304 body was read to its end


def test_a_host_gets_at_most_per_host_connections_kept_alive(
    server: Server, fetch: FetchRunner
) -> None:
    ports: list[int] = []

    def feed(h: Handler) -> None:
        ports.append(h.client_address[1])
        time.sleep(0.02)  # overlapping requests: both slots are busy at once
        h.reply(200, FEED)

    server.routes["/feed"] = feed
    results = fetch.many([server.url("/feed")] * 8, per_host=2)
    assert [r.outcome for r in results] == ["ok"] * 8
    assert len(set(ports)) == 2  # one connection per slot, each reused


def test_a_fetch_cut_off_mid_body_leaves_its_host_usable(
    server: Server, fetch: FetchRunner
) -> None:
    # The cut-off client goes back to the idle set with a half-read connection: the next
    # fetch from that host must get a fresh connection, not the rest of the drip.
    server.routes["/drip"] = drip
    server.routes["/feed"] = lambda h: h.reply(200, FEED)
    urls = [server.url("/drip"), server.url("/feed"), server.url("/feed")]
    results = fetch.many(urls, per_host=1, timeout=1.0, deadline=0.5)
    assert [r.error_kind for r in results] == ["deadline", None, None]
    assert [r.body for r in results[1:]] == [FEED, FEED]


def test_a_queue_at_one_host_does_not_hold_back_other_hosts(
    server: Server, fetch: FetchRunner
) -> None:
    server.routes["/busy"] = lambda h: h.reply(200, FEED)
    server.routes["/other"] = lambda h: h.reply(200, FEED)
    busy = [server.url("/busy")] * 4  # one at a time, 0.4 s apart: 1.2 s of turns
    other = server.url("/other", host="localhost")
    results = fetch.many([*busy, other], concurrency=2, per_host=1, per_host_gap=0.4)
    assert [r.outcome for r in results] == ["ok"] * 5
    started = {s.path: s.at for s in reversed(server.seen)}  # each path's first request
    first_busy = min(s.at for s in server.seen if s.path == "/busy")
    assert started["/other"] - first_busy < 0.3  # not after the busy host's queue (1.2 s)
