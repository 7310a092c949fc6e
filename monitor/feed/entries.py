"""Entry and feed assembly shared by every format: each field cleaned and bounded."""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urljoin, urlsplit

from monitor.feed.markup import bounded_text
from monitor.models import Entry, ParsedFeed
from monitor.text import one_line, truncate

TITLE_MAX = 1_000
SUMMARY_MAX = 10_000
CONTENT_MAX = 100_000
NAME_MAX = 200  # one author or category
NAMES_MAX = 50  # authors or categories per entry
GUID_MAX = 2_000
LINK_MAX = 4_000
LANG_MAX = 35


@dataclass(frozen=True, slots=True)
class RawText:
    """A field value as the feed gave it, and whether it is markup."""

    value: str
    is_html: bool


def make_entry(
    *,
    guid: str | None,
    title: RawText,
    link: str,
    summary: RawText,
    content: RawText,
    published: datetime | None,
    authors: Iterable[str],
    categories: Iterable[str],
    lang: str,
    base_url: str,
) -> Entry | None:
    """An ``Entry`` with every field cleaned and bounded, or None for an empty phantom."""
    entry = Entry(
        guid=_guid(guid),
        title=bounded_text(title.value, TITLE_MAX, is_html=title.is_html, single_line=True),
        link=absolute_link(link, base_url),
        summary=bounded_text(summary.value, SUMMARY_MAX, is_html=summary.is_html),
        content=bounded_text(content.value, CONTENT_MAX, is_html=content.is_html),
        published=published,
        authors=_names(authors),
        categories=_names(categories),
        lang=_lang(lang),
    )
    if not (entry.title or entry.link or entry.summary or entry.content):
        return None
    return entry


def _guid(value: str | None) -> str | None:
    guid = one_line(value or "")[:GUID_MAX]
    return guid or None


def _names(values: Iterable[str]) -> tuple[str, ...]:
    cleaned = (truncate(one_line(html.unescape(v)), NAME_MAX) for v in values)
    return tuple(dict.fromkeys(v for v in cleaned if v))[:NAMES_MAX]


def _lang(value: str) -> str:
    return one_line(value)[:LANG_MAX]


def absolute_link(link: str, base_url: str) -> str:
    """``link`` made absolute against ``base_url``; "" unless it is an http(s) URL."""
    link = one_line(link)
    if not link:
        return ""
    try:
        resolved = urljoin(base_url, link)
        parts = urlsplit(resolved)
    except ValueError:  # e.g. a malformed IPv6 host
        return ""
    if parts.scheme not in ("http", "https") or not parts.netloc or len(resolved) > LINK_MAX:
        return ""
    return resolved


def make_feed(
    *,
    title: RawText,
    link: str,
    entries: Iterable[Entry | None],
    lang: str,
    ttl_seconds: int | None,
    warnings: list[str],
    base_url: str,
) -> ParsedFeed:
    """The ``ParsedFeed``: its title, link and language cleaned, phantom entries left out."""
    kept = tuple(e for e in entries if e is not None)
    return ParsedFeed(
        title=bounded_text(title.value, TITLE_MAX, is_html=title.is_html, single_line=True),
        link=absolute_link(link, base_url),
        entries=kept,
        lang=_lang(lang),
        ttl_seconds=ttl_seconds,
        warnings=tuple(warnings),
    )
