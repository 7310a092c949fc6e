"""What went wrong, named: a short ``error_kind`` for metrics and one readable line."""

from __future__ import annotations

import ssl

import httpx

from monitor.errors import FetchError
from monitor.redact import redact_url


def status_kind(status: int) -> str:
    if status == 404:
        return "http_404"
    if status == 410:
        return "gone"
    if status == 429:
        return "rate_limited"
    return f"http_{status // 100}xx"


def describe(exc: Exception, url: str, timeout: float) -> tuple[str, str]:
    """(error_kind, message) for an exception raised while talking to ``url``."""
    where = redact_url(url)
    if isinstance(exc, FetchError):
        return exc.kind, f"{exc} ({where})" if exc.kind != "refused" else str(exc)
    if isinstance(exc, httpx.TimeoutException):
        phase = {
            httpx.ConnectTimeout: "connecting",
            httpx.ReadTimeout: "waiting for data",
            httpx.WriteTimeout: "sending the request",
            httpx.PoolTimeout: "waiting for a connection",
        }.get(type(exc), "talking to the server")
        return "timeout", f"timeout: nothing for {timeout:g} s while {phase} ({where})"
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return "bad_url", f"bad URL {where}: {exc}"
    if isinstance(exc, httpx.ConnectError) and isinstance(exc.__context__, ssl.SSLError):
        return "tls", f"TLS error with {where}: {exc}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "protocol", f"protocol error from {where}: {exc}"
    return "network", f"network error with {where}: {exc or type(exc).__name__}"
