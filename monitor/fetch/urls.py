"""Feed URLs as the fetcher checks and shows them."""

from __future__ import annotations

from urllib.parse import urlsplit

from monitor.redact import redact_url


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be fetched at all, or None."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        return f"invalid URL {redact_url(url)!r}: {exc}"
    if parts.scheme not in ("http", "https"):
        return f"unsupported URL scheme {parts.scheme!r} in {redact_url(url)} (http or https only)"
    if not parts.hostname:
        return f"no host in URL {redact_url(url)}"
    return None


def origin(url: str) -> str:
    """scheme://host:port, lowercased and without credentials: what may share a connection."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}".lower()


def host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()
