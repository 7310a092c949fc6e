"""The one link a chat message carries: the item's link, only if it is a plain http(s) URL.

Every part of the URL is checked or rebuilt, not only the path, because the chat formats
put the link inside their markup (Slack ``<url|title>``, Discord ``[title](url)``): a ``<``,
``>`` or ``|`` anywhere in it would let a feed write ``<!channel>`` or spoof the link text.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit, urlunsplit

from monitor.text import display_line

MAX_LINK = 2000  # longer links are refused rather than eat a message's text budget

_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"  # RFC 3986 reserved characters and existing escapes
# A host is a DNS name (after IDNA) or a bare IPv6 address: no zone id, no IPvFuture, whose
# characters RFC 3986 allows but a chat markup may read.
_DNS_NAME = re.compile(r"(?:[a-z0-9_-]+\.)*[a-z0-9_-]+\.?")
_IPV6 = re.compile(r"[0-9a-f:.]+")


def safe_link(url: str) -> str | None:
    """``url`` as a plain, escaped http(s) URL, or ``None`` if it is anything else.

    Refuses userinfo (``https://bank.com@evil.example``), bad hosts, controls and spaces.
    The result is made of a lower-case ``http``/``https`` scheme, a host of letters, digits,
    ``-``, ``_`` and ``.`` (or a bracketed IPv6 address), a decimal port, and a path, query
    and fragment percent-encoded down to ``_URL_SAFE``: never ``<``, ``>``, ``|``, ``"``,
    ``\\``, a backtick, whitespace or a non-ASCII character.
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
    if ":" in host:
        if not _IPV6.fullmatch(host):
            return None
        netloc = f"[{host}]"
    elif _DNS_NAME.fullmatch(host):
        netloc = host
    else:
        return None
    if port is not None:
        netloc = f"{netloc}:{port}"
    safe = [quote(part, safe=_URL_SAFE) for part in (parts.path, parts.query, parts.fragment)]
    link = urlunsplit((parts.scheme.lower(), netloc, *safe))
    return link if len(link) <= MAX_LINK else None
