"""The one link a chat message carries: the item's link, only if it is a plain http(s) URL."""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

from monitor.text import display_line

MAX_LINK = 2000  # longer links are refused rather than eat a message's text budget

_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"  # RFC 3986 reserved characters and existing escapes


def safe_link(url: str) -> str | None:
    """``url`` as a plain, escaped http(s) URL, or ``None`` if it is anything else.

    Refuses userinfo (``https://bank.com@evil.example``), bad hosts, controls and spaces.
    """
    url = url.strip()
    if not url or len(url) > MAX_LINK or display_line(url) != url or " " in url:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
        host = (parts.hostname or "").encode("idna").decode("ascii")
    except (ValueError, UnicodeError):
        return None
    if parts.scheme.lower() not in ("http", "https") or not host or "@" in parts.netloc:
        return None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc = f"{netloc}:{port}"
    safe = [quote(part, safe=_URL_SAFE) for part in (parts.path, parts.query, parts.fragment)]
    link = urlunsplit((parts.scheme.lower(), netloc, *safe))
    return link if len(link) <= MAX_LINK else None
