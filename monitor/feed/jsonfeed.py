"""JSON Feed 1.0 / 1.1, through a small adapter: released feedparser does not read it."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from monitor.errors import FeedParseError
from monitor.feed.entries import RawText, make_entry, make_feed
from monitor.models import Entry, ParsedFeed
from monitor.text import one_line

JSONFEED_VERSION_PREFIX = "https://jsonfeed.org/version/"


def parse_json_feed(body: bytes, url: str) -> ParsedFeed:
    """A JSON Feed document; anything else in JSON is refused."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise FeedParseError(f"not a feed: invalid JSON ({one_line(str(exc))[:200]})") from None
    version = doc.get("version") if isinstance(doc, dict) else None
    if not isinstance(version, str) or not version.startswith(JSONFEED_VERSION_PREFIX):
        raise FeedParseError("not a feed: JSON but not a JSON Feed (no jsonfeed.org version)")
    items = doc.get("items")
    if not isinstance(items, list):
        raise FeedParseError("broken JSON Feed: 'items' is missing or not a list")
    feed_lang = _str(doc.get("language"))
    feed_authors = _authors(doc)
    entries = [
        _entry(item, feed_lang, feed_authors, url) for item in items if isinstance(item, dict)
    ]
    warnings = []
    skipped = len(items) - sum(e is not None for e in entries)
    if skipped:
        warnings.append(f"dropped {skipped} empty or malformed items")
    return make_feed(
        title=RawText(html.unescape(_str(doc.get("title"))), False),
        link=_str(doc.get("home_page_url")),
        entries=entries,
        lang=feed_lang,
        ttl_seconds=None,
        warnings=warnings,
        base_url=url,
    )


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _authors(obj: Mapping[str, Any]) -> list[str]:
    """Author names: 1.1 ``authors`` list, else 1.0 ``author`` object."""
    authors = obj.get("authors")
    if not isinstance(authors, list):
        single = obj.get("author")
        authors = [single] if isinstance(single, dict) else []
    return [_str(a.get("name")) or _str(a.get("url")) for a in authors if isinstance(a, dict)]


def _date(value: Any) -> datetime | None:
    """RFC 3339 date as UTC; None when absent or invalid."""
    if not isinstance(value, str):
        return None
    try:
        stamp = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if stamp.tzinfo is None:
        return stamp.replace(tzinfo=UTC)
    return stamp.astimezone(UTC)


def _entry(
    item: Mapping[str, Any], feed_lang: str, feed_authors: list[str], base_url: str
) -> Entry | None:
    raw_id = item.get("id")
    guid = str(raw_id) if isinstance(raw_id, str | int) and not isinstance(raw_id, bool) else None
    html_body = _str(item.get("content_html"))
    content = (
        RawText(html_body, True) if html_body else RawText(_str(item.get("content_text")), False)
    )
    tags = item.get("tags")
    return make_entry(
        guid=guid,
        # Plain text by the spec, yet publishers (WordPress) leave entities in it.
        title=RawText(html.unescape(_str(item.get("title"))), False),
        link=_str(item.get("url")) or _str(item.get("external_url")),
        summary=RawText(_str(item.get("summary")), False),
        content=content,
        published=_date(item.get("date_published")) or _date(item.get("date_modified")),
        authors=_authors(item) or feed_authors,
        categories=[t for t in tags if isinstance(t, str)] if isinstance(tags, list) else [],
        lang=_str(item.get("language")) or feed_lang,
        base_url=base_url,
    )
