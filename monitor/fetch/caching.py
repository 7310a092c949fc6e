"""HTTP caching as a poller uses it: validators for a conditional GET, and how long the
server says its response stays fresh (a floor on the next poll)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

from monitor.core.httpdate import parse_http_date

_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?([0-9]{1,10})\"?\s*(?:,|$)", re.IGNORECASE)
_NO_STORE = re.compile(r"(?:^|,)\s*(?:no-store|no-cache)\s*(?:,|$|=)", re.IGNORECASE)


def conditional_headers(etag: str | None, last_modified: str | None) -> dict[str, str]:
    """The request headers that let the server answer 304 Not Modified."""
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return headers


def parse_max_age(headers: Mapping[str, str], now: datetime) -> float | None:
    """Freshness lifetime in seconds: Cache-Control max-age, else Expires minus Date.

    no-store/no-cache mean 0; an unparseable Expires means already expired (RFC 9111).
    """
    cache_control = headers.get("cache-control", "")
    if _NO_STORE.search(cache_control):
        return 0.0
    max_age = _MAX_AGE.search(cache_control)
    if max_age:
        return float(max_age.group(1))
    expires = headers.get("expires")
    if expires is None:
        return None
    expiry = parse_http_date(expires)
    if expiry is None:
        return 0.0
    origin = parse_http_date(headers.get("date", "")) or now
    return max((expiry - origin).total_seconds(), 0.0)
