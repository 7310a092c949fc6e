"""SSRF guard: outgoing HTTP connections may only reach public addresses.

Feed URLs and webhook URLs come from configuration and from redirects that remote servers
choose, so every connection is checked at the moment it is made: ``GuardedNetworkBackend``
resolves the host itself, refuses forbidden addresses before any packet is sent, connects to
the checked IP (TLS SNI and the Host header keep the name: httpcore passes the hostname to
``start_tls`` separately), and checks the peer address of the connected socket again.
Because it sits below httpx, every redirect hop and every pooled connection is covered.
"""

from __future__ import annotations

import functools
import ipaddress
import select
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import anyio
import httpcore
import httpx

from monitor.errors import FetchError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud instance metadata endpoints: credentials live there. Refused even with allow_private;
# only an explicit allow_cidrs entry opens them.
_METADATA = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_ALLOW_HINT = "set network.allow_private or network.allow_cidrs to allow it"


@dataclass(frozen=True, slots=True)
class NetworkPolicy:
    """Which non-public addresses outgoing connections may reach."""

    allow_private: bool = False
    allow_cidrs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _networks(self.allow_cidrs)  # fail at construction on a malformed CIDR


@functools.lru_cache(maxsize=64)
def _networks(
    cidrs: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    try:
        return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs)
    except ValueError as exc:
        raise ValueError(f"network.allow_cidrs: {exc}") from None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form wraps: IPv4-mapped, NAT64 or 6to4."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def classify(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public address ("a private address", ...), or None if it is."""
    if ip in _METADATA:
        return "the cloud metadata address"
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            reason = classify(inner)
            return None if reason is None else f"{reason} wrapped in IPv6 ({inner})"
    checks = (
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT, "a carrier-grade NAT address"),
        (ip.is_reserved, "a reserved address"),
        (ip.is_private, "a private address"),
        (not ip.is_global, "a non-public address"),
    )
    return next((reason for hit, reason in checks if hit), None)


def check_address(ip: str, policy: NetworkPolicy, *, host: str | None = None) -> None:
    """Raise ``FetchError("refused", ...)`` unless ``policy`` lets connections reach ``ip``.

    ``host`` is the name that resolved to ``ip``; it only makes the message clearer.
    """
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        raise FetchError("refused", f"refused: {ip!r} is not an IP address") from None
    if any(addr in net for net in _networks(policy.allow_cidrs)):
        return
    reason = classify(addr)
    if reason is None or (policy.allow_private and addr not in _METADATA):
        return
    subject = f"{host} resolves to {addr}" if host and host != ip else str(addr)
    raise FetchError("refused", f"refused: {subject}, {reason}; {_ALLOW_HINT}")


def allowed_addresses(addresses: Iterable[str], policy: NetworkPolicy, host: str) -> list[str]:
    """The ones of ``host``'s ``addresses`` that ``policy`` allows, in order; if none is,
    the first refusal (``FetchError``) is raised."""
    refusal: FetchError | None = None
    allowed: list[str] = []
    for ip in addresses:
        try:
            check_address(ip, policy, host=host)
        except FetchError as exc:
            refusal = refusal or exc
        else:
            allowed.append(ip)
    if not allowed:
        raise refusal or FetchError("refused", f"refused: {host} has no address")
    return allowed


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


async def _resolve(host: str, port: int, timeout: float | None) -> list[str]:
    """The addresses ``host`` resolves to, in resolver order, without duplicates."""
    if _is_ip_literal(host):
        return [host.strip("[]")]
    try:
        with anyio.fail_after(timeout):
            infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except TimeoutError:
        raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
    except OSError as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Wraps an httpcore network backend; connects only to addresses the policy allows."""

    def __init__(self, policy: NetworkPolicy, inner: httpcore.AsyncNetworkBackend) -> None:
        self._policy = policy
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        allowed = allowed_addresses(await _resolve(host, port, timeout), self._policy, host)
        last_error: Exception | None = None
        for ip in allowed:  # try each checked address in turn, like a plain connect would
            try:
                stream = await self._inner.connect_tcp(
                    ip, port, timeout=timeout, local_address=local_address,
                    socket_options=socket_options,
                )  # fmt: skip
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
                continue
            await self._check_peer(stream, host)
            return _QuickReadableStream(stream)
        assert last_error is not None
        raise last_error

    async def _check_peer(self, stream: httpcore.AsyncNetworkStream, host: str) -> None:
        """Defence in depth: the socket's actual peer must pass the policy too."""
        peer = stream.get_extra_info("server_addr")
        try:
            if peer is None:
                raise FetchError("refused", f"refused: cannot tell which address {host} is")
            check_address(str(peer[0]), self._policy, host=host)
        except FetchError:
            await stream.aclose()
            raise

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise FetchError("refused", "refused: unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _QuickReadableStream(httpcore.AsyncNetworkStream):
    """A stream that answers httpcore's "is the idle connection readable" cheaply.

    httpcore asks it of every pooled connection on every request; anyio's answer rebuilds
    the socket's attribute table, a getpeername() system call included, each time.
    """

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket = inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        tls = await self._inner.start_tls(ssl_context, server_hostname, timeout)
        return _QuickReadableStream(tls)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable" and self._socket is not None:
            # As httpcore decides it: an idle connection with data (or EOF) to read is stale.
            if self._socket.fileno() == -1:
                return True
            poller = select.poll()  # not select(): it fails on descriptors past 1023
            poller.register(self._socket, select.POLLIN)
            return bool(poller.poll(0))
        return self._inner.get_extra_info(info)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, policy: NetworkPolicy, **transport_kwargs: Any) -> None:
        if transport_kwargs.get("proxy") is not None or transport_kwargs.get("uds") is not None:
            raise ValueError("guarded_transport: a proxy or unix socket would bypass the guard")
        super().__init__(**transport_kwargs)
        # httpx has no public hook for the network backend; the pool reads this attribute
        # on every new connection.
        pool = self._pool
        pool._network_backend = GuardedNetworkBackend(policy, pool._network_backend)


def guarded_transport(policy: NetworkPolicy, **transport_kwargs: Any) -> httpx.AsyncBaseTransport:
    """An ``httpx.AsyncHTTPTransport`` (same keyword arguments) whose every connection is
    checked against ``policy``. A refused connection raises ``FetchError("refused", ...)``
    from ``client.send``. Use it with ``trust_env=False`` so no environment proxy bypasses it.
    """
    return _GuardedTransport(policy, **transport_kwargs)
