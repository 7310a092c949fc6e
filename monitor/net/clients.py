"""httpx clients of one keep-alive connection each, kept idle per key (an origin, a webhook).

Why not one client with a pool as large as the concurrency: httpcore's pool scans every
connection it holds, with a poll() system call for each idle one, several times per request.
With 32 connections that bookkeeping cost more CPU than the request itself. A client holding
one connection makes that scan O(1); the caller's semaphores cap how many are busy at once.
"""

from __future__ import annotations

import functools
import ssl
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Generic, TypeVar

import anyio
import httpx

from monitor.net.guard import NetworkPolicy, guarded_transport

ClientT = TypeVar("ClientT", bound=httpx.AsyncClient)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The CA bundle, loaded once per process on first use: each client would load it again
    (~20 ms each)."""
    return httpx.create_ssl_context()


def one_connection_transport(policy: NetworkPolicy) -> httpx.AsyncBaseTransport:
    """An SSRF-guarded transport holding at most one connection, for a lent-out client."""
    return guarded_transport(policy, verify=_tls_context(), limits=httpx.Limits(max_connections=1))


class OneConnectionClients(Generic[ClientT]):
    """Lends out ``make()``-made clients by key; at most ``max_idle`` are kept idle in all.

    A client given back beyond ``max_idle`` closes the least recently used idle one, so a
    fetcher visiting thousands of hosts does not keep thousands of sockets open.
    """

    def __init__(self, make: Callable[[], ClientT], *, max_idle: int) -> None:
        self._make = make
        self._max_idle = max(1, max_idle)
        # Idle clients, least recently used first: (key, id) -> client.
        self._idle: OrderedDict[tuple[str, int], ClientT] = OrderedDict()
        self._by_key: dict[str, list[int]] = {}  # key -> ids of its idle clients
        self._busy: set[ClientT] = set()

    @asynccontextmanager
    async def client(self, key: str) -> AsyncIterator[ClientT]:
        """An idle client of ``key`` (its connection likely still open), else a new one."""
        ids = self._by_key.get(key)
        client = self._idle.pop((key, ids.pop())) if ids else self._make()
        self._busy.add(client)
        try:
            yield client
        finally:
            self._busy.discard(client)
            if not client.is_closed:
                self._idle[(key, id(client))] = client
                self._by_key.setdefault(key, []).append(id(client))
                if len(self._idle) > self._max_idle:
                    await self._close_oldest_idle()

    async def _close_oldest_idle(self) -> None:
        (key, client_id), client = self._idle.popitem(last=False)
        ids = self._by_key[key]
        ids.remove(client_id)
        if not ids:
            del self._by_key[key]
        with anyio.CancelScope(shield=True):  # even when the borrower was cancelled
            await client.aclose()

    def idle(self) -> int:
        return len(self._idle)

    async def aclose(self) -> None:
        """Close every client, idle or still lent out."""
        clients = [*self._idle.values(), *self._busy]
        self._idle.clear()
        self._by_key.clear()
        self._busy.clear()
        for client in clients:
            await client.aclose()
