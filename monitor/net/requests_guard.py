"""SSRF guard and response cap for HTTP sent with ``requests`` (Apprise's plugins).

Apprise's plugins call ``requests`` themselves, each building its own session, and most
follow redirects, so neither a check of the URL's host before the call nor Apprise's
``redirect=no`` (a per-URL setting, and not every plugin honours it) keeps them from
reaching an address the policy refuses. What every one of those requests goes through is
``requests.adapters.HTTPAdapter.send``: ``guarded_requests`` replaces it, once for the
process, with a send that acts only inside a ``guarded_requests`` block (a context variable:
Apprise copies it into its worker threads) and is the original send everywhere else. Inside,
each request, whatever session or adapter made it:

* connects only to an address the policy allows, resolved once per connection and used as
  is: the socket goes to the checked address (no DNS answer can change in between), TLS
  still checks the certificate against the name, and the peer is checked again;
* uses no proxy: an environment proxy would connect out of the guard's sight;
* is never redirected: an answer with a Location is refused (``RedirectRefused``);
* reads at most ``body_limit`` bytes of the answer, within the block's deadline; the
  connection of a longer or slower body is closed, so nothing more is read.

A refusal is raised as a ``requests`` exception (plugins catch those: the notification fails)
and kept in ``Egress.refusal`` for the caller to report.
"""

from __future__ import annotations

import contextvars
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import create_connection

from monitor.errors import FetchError
from monitor.net.guard import NetworkPolicy, allowed_addresses, check_address

READ_CHUNK = 16 * 1024  # small: a compressed body inflates at most this much per read
LOCATION_SHOWN = 200  # characters of a refused redirect's target kept in the message

_ORIGINAL_SEND = HTTPAdapter.send


class RedirectRefused(requests.exceptions.RequestException):
    """A guarded request was answered with a redirect, which is not followed."""


@dataclass
class Egress:
    """One guarded block: its policy, deadline and limit, and the first refusal in it."""

    policy: NetworkPolicy
    deadline: float  # time.monotonic() after which no more of a body is read
    body_limit: int
    refusal: str | None = None
    adapter: HTTPAdapter = field(init=False)

    def __post_init__(self) -> None:
        self.adapter = _PinnedAdapter()

    def refuse(self, message: str) -> str:
        self.refusal = self.refusal or message
        return message

    def send(
        self, request: requests.PreparedRequest, timeout: Any, verify: Any, cert: Any
    ) -> requests.Response:
        response = _ORIGINAL_SEND(
            self.adapter, request, stream=True, timeout=timeout, verify=verify, cert=cert
        )
        if response.is_redirect:
            response.close()
            location = response.headers["location"][:LOCATION_SHOWN]
            raise RedirectRefused(
                self.refuse(
                    f"refused: a redirect (HTTP {response.status_code}) to {location}; "
                    "redirects are not followed, give the final URL"
                ),
                response=response,
            )
        self._read_bounded(response)
        return response

    def _read_bounded(self, response: requests.Response) -> None:
        """The body into ``response.content``, cut at ``body_limit``, read by the deadline."""
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_content(READ_CHUNK):
                chunks.append(chunk[: self.body_limit - size])
                size += len(chunk)
                if size >= self.body_limit:
                    break
                if time.monotonic() > self.deadline:
                    raise requests.exceptions.ReadTimeout("the answer's body took too long")
        finally:
            response.close()  # closes the connection if the body was not read to its end
        response._content = b"".join(chunks)
        response._content_consumed = True


_ACTIVE: contextvars.ContextVar[Egress | None] = contextvars.ContextVar(
    "monitor_requests_egress", default=None
)


def _guarded_send(
    adapter: HTTPAdapter,
    request: requests.PreparedRequest,
    stream: bool = False,
    timeout: Any = None,
    verify: Any = True,
    cert: Any = None,
    proxies: Any = None,
) -> requests.Response:
    egress = _ACTIVE.get()
    if egress is None:
        return _ORIGINAL_SEND(adapter, request, stream, timeout, verify, cert, proxies)
    return egress.send(request, timeout, verify, cert)


@contextmanager
def guarded_requests(policy: NetworkPolicy, *, timeout: float, body_limit: int) -> Iterator[Egress]:
    """Within the block (this context and copies of it), every ``requests`` request is
    guarded as the module docstring says; bodies are read for at most ``timeout`` seconds."""
    # Idempotent, so no lock: every install sets the same function.
    HTTPAdapter.send = _guarded_send  # type: ignore[method-assign,assignment]
    egress = Egress(policy, time.monotonic() + timeout, body_limit)
    token = _ACTIVE.set(egress)
    try:
        yield egress
    finally:
        _ACTIVE.reset(token)
        egress.adapter.close()


class _PinnedHTTPConnection(HTTPConnection):
    """Opens its socket to a checked address of the host (urllib3's one socket hook)."""

    def _new_conn(self) -> socket.socket:
        egress = _ACTIVE.get()
        if egress is None:  # only a guarded block's adapter makes these connections
            raise NewConnectionError(self, "refused: a connection outside a guarded block")
        host = self._dns_host
        try:
            infos = socket.getaddrinfo(host, self.port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        try:
            addresses = allowed_addresses(
                dict.fromkeys(str(info[4][0]) for info in infos), egress.policy, host
            )
        except FetchError as exc:
            raise NewConnectionError(self, egress.refuse(str(exc))) from None
        error: Exception | None = None
        for ip in addresses:  # each checked address in turn, as a plain connect would
            try:
                sock = create_connection(
                    (ip, self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except TimeoutError:
                error = ConnectTimeoutError(self, f"connecting to {host} ({ip}) timed out")
                continue
            except OSError as exc:
                error = NewConnectionError(self, f"cannot connect to {host} ({ip}): {exc}")
                continue
            try:  # defence in depth: the socket's actual peer must pass the policy too
                check_address(str(sock.getpeername()[0]), egress.policy, host=host)
            except FetchError as exc:
                sock.close()
                raise NewConnectionError(self, egress.refuse(str(exc))) from None
            return sock
        assert error is not None
        raise error


class _PinnedHTTPSConnection(_PinnedHTTPConnection, HTTPSConnection):
    pass


class _PinnedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _PinnedHTTPConnection


class _PinnedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _PinnedHTTPSConnection


class _PinnedAdapter(HTTPAdapter):
    """An adapter whose every connection is a pinned, checked one."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _PinnedHTTPConnectionPool,
            "https": _PinnedHTTPSConnectionPool,
        }
