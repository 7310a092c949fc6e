"""Feed discovery: given a site's page, the feeds it links to (``monitor feeds discover``).

A page announces its feeds with ``<link rel="alternate" type="application/rss+xml" href=...>``
(RSS, Atom, JSON Feed). Pages that do not get a second, weaker pass over their ``<a>`` links
whose address looks like a feed. A URL that already is a feed is reported as itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from monitor.errors import FeedParseError
from monitor.feed.parse import parse_feed
from monitor.fetch.fetcher import Fetcher

FEED_TYPES = {
    "application/rss+xml": "rss",
    "application/atom+xml": "atom",
    "application/feed+json": "json",
    "application/json": "json",
    "application/rdf+xml": "rdf",
}
_FEEDISH_HREF = re.compile(r"(?:\brss\b|\batom\b|/feeds?/?$|\.rss$|\.atom$|/feed\.xml$)", re.I)
MAX_LINKS = 50  # a page with thousands of links is not a list of feeds


@dataclass(frozen=True, slots=True)
class FoundFeed:
    url: str
    kind: str  # rss, atom, json, rdf; "link?" for an <a> that only looks like a feed
    title: str = ""


class _LinkCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base: str | None = None
        self.alternates: list[tuple[str, str, str]] = []  # href, kind, title
        self.anchors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {name: (value or "").strip() for name, value in attrs}
        href = attr.get("href", "")
        if not href:
            return
        if tag == "base" and self.base is None:
            self.base = href
        elif tag == "link" and "alternate" in attr.get("rel", "").lower().split():
            kind = FEED_TYPES.get(attr.get("type", "").split(";")[0].strip().lower())
            if kind:
                self.alternates.append((href, kind, attr.get("title", "")))
        elif tag == "a" and _looks_like_a_feed(href):
            self.anchors.append(href)


def _looks_like_a_feed(href: str) -> bool:
    parts = urlsplit(href)
    return any(_FEEDISH_HREF.search(part) for part in (parts.path, parts.query) if part)


def feed_links(html: str, page_url: str) -> list[FoundFeed]:
    """The feeds a page links to, announced ones first; absolute http(s) URLs, no repeats."""
    collector = _LinkCollector()
    collector.feed(html)
    collector.close()
    base = urljoin(page_url, collector.base) if collector.base else page_url
    found = [FoundFeed(urljoin(base, h), k, t) for h, k, t in collector.alternates]
    if not found:
        found = [FoundFeed(urljoin(base, h), "link?") for h in collector.anchors]
    unique: dict[str, FoundFeed] = {}
    for feed in found:
        if urlsplit(feed.url).scheme in ("http", "https"):
            unique.setdefault(feed.url, feed)
    return list(unique.values())[:MAX_LINKS]


async def discover(fetcher: Fetcher, url: str) -> list[FoundFeed]:
    """Fetch ``url``: the feed itself if it is one, else the feeds its page links to."""
    result = await fetcher.fetch(url)
    if result.outcome != "ok":
        raise FeedParseError(f"{url}: {result.error or result.outcome}")
    try:
        parsed = parse_feed(result.body, url=result.url, content_type=result.content_type)
    except FeedParseError:
        text = result.body.decode("utf-8", errors="replace")
        return feed_links(text, result.url)
    return [FoundFeed(result.url, "feed", parsed.title)]
