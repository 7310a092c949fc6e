"""Feed bytes -> ``ParsedFeed``: the one entry point of ``monitor.feed``. Pure (no I/O), so
it can run in a process pool.

``sniff`` decides what the body is; RSS 0.9x/1.0/2.0 and Atom go through feedparser,
hardened (``rss``); JSON Feed 1.0/1.1 through a small adapter (``jsonfeed``); both build
their entries with ``entries``, which cleans and bounds every field.
"""

from __future__ import annotations

from monitor.errors import FeedParseError
from monitor.feed.jsonfeed import parse_json_feed
from monitor.feed.rss import parse_xml_feed
from monitor.feed.sniff import is_json, media_type, reject_non_xml
from monitor.models import ParsedFeed


def parse_feed(body: bytes, *, url: str, content_type: str | None = None) -> ParsedFeed:
    """Parse one feed document. ``url`` is where it came from (final URL after redirects):
    relative links resolve against it. Raises ``FeedParseError`` with one line if the body
    is not a usable feed."""
    stripped = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        raise FeedParseError("not a feed: the body is empty")
    mime, charset = media_type(content_type)
    if is_json(stripped, mime):
        return parse_json_feed(body, url)
    reject_non_xml(stripped, body)
    return parse_xml_feed(body, url, charset)
