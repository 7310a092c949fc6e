"""OneConnectionClients: lending by key, the idle cap, closing."""

from __future__ import annotations

import asyncio

import httpx

from monitor.net.clients import OneConnectionClients


def made() -> tuple[OneConnectionClients, list[httpx.AsyncClient]]:
    clients: list[httpx.AsyncClient] = []

    def make() -> httpx.AsyncClient:
        clients.append(httpx.AsyncClient())
        return clients[-1]

    return OneConnectionClients(make, max_idle=2), clients


def test_a_key_gets_its_idle_client_back_and_other_keys_their_own() -> None:
    async def run() -> None:
        pool, clients = made()
        async with pool.client("a") as first, pool.client("a") as busy_meanwhile:
            assert busy_meanwhile is not first  # one client per concurrent borrower
        async with pool.client("a") as again:
            assert again in (first, busy_meanwhile)
        async with pool.client("b") as other:
            assert other not in (first, busy_meanwhile)
        assert len(clients) == 3
        await pool.aclose()

    asyncio.run(run())


def test_past_the_idle_cap_the_least_recently_used_client_is_closed() -> None:
    async def run() -> None:
        pool, clients = made()
        for key in ("a", "b", "c"):
            async with pool.client(key):
                pass
        assert pool.idle() == 2
        assert [c.is_closed for c in clients] == [True, False, False]
        async with pool.client("a"):  # its idle client is gone: a new one
            pass
        assert len(clients) == 4
        assert [c.is_closed for c in clients] == [True, True, False, False]
        await pool.aclose()

    asyncio.run(run())


def test_a_client_closed_while_lent_is_not_kept_and_aclose_closes_every_one() -> None:
    async def run() -> None:
        pool, clients = made()
        async with pool.client("a") as client:
            await client.aclose()
        assert pool.idle() == 0
        async with pool.client("a"), pool.client("b"):
            await pool.aclose()  # shutdown with clients still lent out
        assert all(c.is_closed for c in clients)
        assert pool.idle() == 0

    asyncio.run(run())
