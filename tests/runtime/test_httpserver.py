"""The endpoints' server bounds what clients hold: a connection cap, timeouts, a quiet log."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import structlog.testing

from monitor.runtime.httpserver import Response, get_only, serve
from monitor.runtime.metrics import REGISTRY

CAP = 4


def dropped(reason: str) -> float:
    value = REGISTRY.get_sample_value("monitor_http_connections_dropped_total", {"reason": reason})
    return value or 0.0


async def ok() -> Response:
    return 200, "text/plain", b"ok\n"


async def get(port: int, path: str = "/healthz") -> bytes:
    """The whole answer; b"" if the server closed or reset the connection without one."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        return await asyncio.wait_for(reader.read(), 5)
    except ConnectionResetError:
        return b""
    finally:
        writer.close()


async def idle(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection that sends half a request and waits."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.1\r\n")
    await writer.drain()
    return reader, writer


Scenario = Callable[[int, asyncio.Event], Awaitable[None]]


def run(scenario: Scenario, timeout: float = 10.0) -> list[MutableMapping[str, Any]]:
    """Run ``scenario(port, release)`` against a server with ``/healthz`` and ``/slow`` (which
    answers once ``release`` is set); the logs."""
    release = asyncio.Event()

    async def slow() -> Response:
        await release.wait()
        return await ok()

    async def main() -> None:
        routes = {"/healthz": get_only(ok), "/slow": get_only(slow)}
        server = await serve("127.0.0.1", 0, routes, max_connections=CAP, timeout=timeout)
        try:
            await scenario(server.sockets[0].getsockname()[1], release)
        finally:
            release.set()
            server.close()
            await server.wait_closed()

    with structlog.testing.capture_logs() as logs:
        asyncio.run(main())
    return logs


def test_a_client_that_sends_no_request_is_cut_after_the_timeout() -> None:
    before = dropped("timeout")

    async def scenario(port: int, release: asyncio.Event) -> None:
        reader, writer = await idle(port)
        assert await asyncio.wait_for(reader.read(), 3) == b""  # closed by the server
        writer.close()

    logs = run(scenario, timeout=0.3)
    assert dropped("timeout") == before + 1
    assert [e["event"] for e in logs] == ["HTTP connections dropped"]


def test_over_the_cap_a_new_connection_cuts_the_oldest_idle_one_and_is_answered() -> None:
    before = dropped("cut_for_newer")

    async def scenario(port: int, release: asyncio.Event) -> None:
        held = [await idle(port) for _ in range(CAP * 25)]
        await asyncio.sleep(0.1)
        answer = await get(port)
        assert answer.endswith(b"\r\n\r\nok\n")
        still_open = 0
        for reader, writer in held:
            try:
                await asyncio.wait_for(reader.read(), 0.01)  # cut: EOF or reset at once
            except TimeoutError:
                still_open += 1
            except ConnectionResetError:
                pass
            writer.close()
        assert still_open < CAP

    logs = run(scenario)
    assert dropped("cut_for_newer") >= before + CAP * 25 - CAP
    assert len(logs) == 1  # one line, whatever the number of connections


def test_at_the_cap_with_every_connection_busy_a_new_one_is_refused_until_one_ends() -> None:
    before = dropped("over_capacity")

    async def scenario(port: int, release: asyncio.Event) -> None:
        busy = [asyncio.create_task(get(port, "/slow")) for _ in range(CAP)]
        await asyncio.sleep(0.2)
        assert await get(port) == b""  # refused: closed without an answer
        assert await get(port) == b""
        release.set()
        for answer in await asyncio.gather(*busy):
            assert answer.endswith(b"\r\n\r\nok\n")
        assert (await get(port)).endswith(b"\r\n\r\nok\n")

    logs = run(scenario)
    assert dropped("over_capacity") == before + 2
    assert len(logs) == 1
