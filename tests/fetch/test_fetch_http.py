"""Fetcher against real misbehaving servers on 127.0.0.1: what needs a real socket (the SSRF
guard on connected addresses, connection reuse, idle timeouts and the deadline, broken
connections). Everything else is in test_fetch_mock.py."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from monitor.fetch.fetcher import Fetcher
from monitor.models import FetchResult
from monitor.net.guard import NetworkPolicy
from tests.fetch.server import drip

if TYPE_CHECKING:
    from conftest import FetchRunner

    from tests.fetch.server import Handler, Server

FEED = b"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title></channel></rss>"


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
