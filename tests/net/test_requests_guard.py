"""The ``requests`` guard: pinned, checked connections, no redirect, no proxy, bounded bodies."""

from __future__ import annotations

import contextvars
import threading
import time
import tracemalloc
from collections.abc import Iterator

import pytest
import requests

from monitor.net.guard import NetworkPolicy
from monitor.net.requests_guard import RedirectRefused, guarded_requests
from tests.net.hostile import HostileServer, canary, endless, redirector

ONLY_127_0_0_1 = NetworkPolicy(allow_cidrs=("127.0.0.1/32",))
LIMIT = 64 * 1024


@pytest.fixture
def trap() -> Iterator[HostileServer]:
    server = canary()
    try:
        yield server
    finally:
        server.close()


def test_outside_a_block_requests_is_untouched(trap: HostileServer) -> None:
    with guarded_requests(NetworkPolicy(), timeout=5, body_limit=LIMIT):
        pass  # the guard is installed now, but no block is active
    assert requests.post(trap.url(), data=b"{}", timeout=5).status_code == 200
    assert trap.requests == 1


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_refused_address_is_never_connected_to(trap: HostileServer, scheme: str) -> None:
    with (
        guarded_requests(ONLY_127_0_0_1, timeout=5, body_limit=LIMIT) as egress,
        pytest.raises(requests.ConnectionError),
    ):
        requests.post(f"{scheme}://{trap.host}:{trap.port}/", data=b"{}", timeout=5)
    assert trap.requests == 0
    assert egress.refusal is not None
    assert egress.refusal.startswith("refused: 127.0.0.2, a loopback address")


def test_a_name_connects_to_an_allowed_address_it_resolves_to(trap: HostileServer) -> None:
    server = canary("127.0.0.1")
    try:
        with guarded_requests(ONLY_127_0_0_1, timeout=5, body_limit=LIMIT):
            reply = requests.post(f"http://localhost:{server.port}/", data=b"{}", timeout=5)
    finally:
        server.close()
    assert (reply.status_code, server.requests) == (200, 1)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_refused_not_followed(trap: HostileServer, status: int) -> None:
    hop = redirector(status, trap.url("/stolen"))
    try:
        with (
            guarded_requests(ONLY_127_0_0_1, timeout=5, body_limit=LIMIT) as egress,
            pytest.raises(RedirectRefused),
        ):
            requests.post(hop.url(), data=b"{}", timeout=5, allow_redirects=True)
    finally:
        hop.close()
    assert (hop.requests, trap.requests) == (1, 0)
    assert egress.refusal == (
        f"refused: a redirect (HTTP {status}) to {trap.url('/stolen')}; "
        "redirects are not followed, give the final URL"
    )


def test_an_environment_proxy_is_not_used(
    trap: HostileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", trap.url(""))
    server = canary("127.0.0.1")
    try:
        with guarded_requests(ONLY_127_0_0_1, timeout=5, body_limit=LIMIT):
            reply = requests.post(server.url(), data=b"{}", timeout=5)
    finally:
        server.close()
    assert (reply.status_code, server.requests, trap.requests) == (200, 1, 0)


def test_a_copied_context_in_another_thread_is_guarded(trap: HostileServer) -> None:
    """As Apprise runs a plugin: in its worker thread, in a copy of the caller's context."""
    errors: list[BaseException] = []

    def send() -> None:
        try:
            requests.post(trap.url(), data=b"{}", timeout=5)
        except requests.ConnectionError as exc:
            errors.append(exc)

    with guarded_requests(ONLY_127_0_0_1, timeout=5, body_limit=LIMIT):
        worker = threading.Thread(target=contextvars.copy_context().run, args=(send,))
        worker.start()
        worker.join()
    assert len(errors) == 1
    assert trap.requests == 0


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_an_endless_answer_is_read_up_to_the_limit(chunked: bool) -> None:
    server = endless(chunked=chunked)
    tracemalloc.start()
    started = time.monotonic()
    try:
        with guarded_requests(ONLY_127_0_0_1, timeout=10, body_limit=LIMIT):
            reply = requests.post(server.url(), data=b"{}", timeout=10)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        server.close()
    assert reply.status_code == 200
    assert len(reply.content) == LIMIT
    assert peak < 5 * 1024**2
    assert time.monotonic() - started < 5


def test_a_body_past_the_deadline_is_a_read_timeout() -> None:
    server = endless()
    try:
        with (
            guarded_requests(ONLY_127_0_0_1, timeout=0, body_limit=10 * 1024**3),
            pytest.raises(requests.exceptions.ReadTimeout),
        ):
            requests.post(server.url(), data=b"{}", timeout=5)
    finally:
        server.close()
