"""SSRF guard: the address table, the connect-time backend, and the transport."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import httpcore
import httpx
import pytest

from monitor.errors import FetchError
from monitor.net.guard import GuardedNetworkBackend, NetworkPolicy, check_address, guarded_transport

if TYPE_CHECKING:
    from tests.fetch.server import Server

STRICT = NetworkPolicy()
PRIVATE_OK = NetworkPolicy(allow_private=True)


@pytest.mark.parametrize(
    ("ip", "reason"),
    [
        ("93.184.216.34", None),
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("127.0.0.1", "a loopback address"),
        ("127.255.0.9", "a loopback address"),
        ("::1", "a loopback address"),
        ("10.0.0.1", "a private address"),
        ("172.16.5.4", "a private address"),
        ("172.31.255.255", "a private address"),
        ("172.32.0.1", None),
        ("192.168.1.1", "a private address"),
        ("fd12:3456::1", "a private address"),
        ("169.254.10.10", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("fe80::1%eth0", "a link-local address"),
        ("224.0.0.1", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("0.0.0.0", "an unspecified address"),
        ("::", "an unspecified address"),
        ("240.0.0.1", "a reserved address"),
        ("255.255.255.255", "a reserved address"),
        ("100.64.0.1", "a carrier-grade NAT address"),
        ("100.127.255.254", "a carrier-grade NAT address"),
        ("100.128.0.1", None),
        ("192.0.2.10", "a private address"),
        ("169.254.169.254", "the cloud metadata address"),
        ("fd00:ec2::254", "the cloud metadata address"),
        ("::ffff:127.0.0.1", "a loopback address wrapped in IPv6 (127.0.0.1)"),
        ("::ffff:10.1.2.3", "a private address wrapped in IPv6 (10.1.2.3)"),
        ("::ffff:169.254.169.254", "the cloud metadata address wrapped in IPv6"),
        ("::ffff:8.8.8.8", None),
        ("64:ff9b::a00:1", "a private address wrapped in IPv6 (10.0.0.1)"),
        ("64:ff9b::7f00:1", "a loopback address wrapped in IPv6 (127.0.0.1)"),
        ("64:ff9b::808:808", None),
        ("2002:a9fe:a9fe::1", "the cloud metadata address wrapped in IPv6 (169.254.169.254)"),
        ("2002:c0a8:0101::", "a private address wrapped in IPv6 (192.168.1.1)"),
        ("2002:0808:0808::1", None),
        ("2001:db8::1", "a private address"),
    ],
)
def test_check_address_table(ip: str, reason: str | None) -> None:
    if reason is None:
        check_address(ip, STRICT)
        return
    with pytest.raises(FetchError) as caught:
        check_address(ip, STRICT, host="feeds.example.org")
    assert caught.value.kind == "refused"
    assert reason in str(caught.value)
    assert str(caught.value).startswith("refused: feeds.example.org resolves to ")
    assert str(caught.value).endswith(
        "set network.allow_private or network.allow_cidrs to allow it"
    )


@pytest.mark.parametrize(
    ("ip", "policy", "allowed"),
    [
        ("10.0.0.1", PRIVATE_OK, True),
        ("::1", PRIVATE_OK, True),
        ("::ffff:192.168.0.1", PRIVATE_OK, True),
        ("169.254.169.254", PRIVATE_OK, False),  # metadata needs an explicit CIDR
        ("fd00:ec2::254", PRIVATE_OK, False),
        ("169.254.169.254", NetworkPolicy(allow_cidrs=("169.254.169.254/32",)), True),
        ("10.1.2.3", NetworkPolicy(allow_cidrs=("10.1.0.0/16",)), True),
        ("10.2.0.1", NetworkPolicy(allow_cidrs=("10.1.0.0/16",)), False),
        ("fd00::5", NetworkPolicy(allow_cidrs=("fd00::/8", " 10.0.0.0/8 ")), True),
        ("10.9.9.9", NetworkPolicy(allow_cidrs=("fd00::/8", " 10.0.0.0/8 ")), True),
    ],
)
def test_policy_exceptions(ip: str, policy: NetworkPolicy, allowed: bool) -> None:
    if allowed:
        check_address(ip, policy)
    else:
        with pytest.raises(FetchError, match="refused"):
            check_address(ip, policy)


def test_not_an_ip_is_refused() -> None:
    with pytest.raises(FetchError, match="is not an IP address"):
        check_address("example.org", PRIVATE_OK)


def test_malformed_cidr_fails_at_construction() -> None:
    with pytest.raises(ValueError, match=r"network\.allow_cidrs"):
        NetworkPolicy(allow_cidrs=("10.0.0.0/33",))


class RecordingBackend(httpcore.AsyncNetworkBackend):
    """Error injection: stands in for the real network and records connect attempts."""

    def __init__(self) -> None:
        self.connects: list[str] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connects.append(host)
        raise httpcore.ConnectError("recording backend never connects")


@pytest.mark.parametrize(
    "host", ["10.0.0.1", "[::1]", "169.254.169.254", "localhost", "::ffff:10.0.0.1"]
)
def test_backend_refuses_before_any_connect_attempt(host: str) -> None:
    inner = RecordingBackend()
    backend = GuardedNetworkBackend(STRICT, inner)
    with pytest.raises(FetchError, match="refused"):
        asyncio.run(backend.connect_tcp(host, 80, timeout=1.0))
    assert inner.connects == []


def test_backend_connects_to_the_checked_ip_not_the_name() -> None:
    inner = RecordingBackend()
    backend = GuardedNetworkBackend(PRIVATE_OK, inner)
    with pytest.raises(httpcore.ConnectError):
        asyncio.run(backend.connect_tcp("localhost", 80, timeout=1.0))
    assert inner.connects
    assert set(inner.connects) <= {"127.0.0.1", "::1"}


def test_backend_refuses_unix_sockets() -> None:
    backend = GuardedNetworkBackend(PRIVATE_OK, RecordingBackend())
    with pytest.raises(FetchError, match="unix sockets"):
        asyncio.run(backend.connect_unix_socket("/run/docker.sock"))


def test_guarded_transport_for_other_clients(server: Server) -> None:
    """The webhook sender's use: a plain httpx client over the guarded transport."""
    server.routes["/hook"] = lambda h: h.reply(204)

    async def post(policy: NetworkPolicy) -> int:
        async with httpx.AsyncClient(transport=guarded_transport(policy), trust_env=False) as c:
            return (await c.get(server.url("/hook"))).status_code

    with pytest.raises(FetchError, match=r"refused: 127\.0\.0\.1, a loopback address"):
        asyncio.run(post(STRICT))
    assert asyncio.run(post(PRIVATE_OK)) == 204
    assert server.paths() == ["/hook"]


def test_guarded_transport_rejects_a_proxy() -> None:
    with pytest.raises(ValueError, match="bypass"):
        guarded_transport(STRICT, proxy="http://proxy.invalid:3128")
