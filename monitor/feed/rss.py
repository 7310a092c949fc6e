"""RSS 0.9x/1.0/2.0 and Atom through feedparser, hardened.

The body is decoded to UTF-8 and its DOCTYPE (with any internal subset) is cut out before
feedparser sees it, so no entity expansion, external entity or DTD fetch can happen;
feedparser only ever gets a file object (a bytes or str argument that looks like a URL or
path would be opened).
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import feedparser
from feedparser.encodings import convert_to_utf8
from feedparser.exceptions import CharacterEncodingOverride, NonXMLContentType

from monitor.errors import FeedParseError
from monitor.feed.entries import RawText, make_entry, make_feed
from monitor.feed.sniff import trusted_charset
from monitor.models import Entry, ParsedFeed
from monitor.text import one_line

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_PROLOG_ITEM = re.compile(rb"\s+|<\?.*?\?>|<!--.*?-->", re.DOTALL)
_DOCTYPE_TOKEN = re.compile(rb"<!--.*?-->|\"[^\"]*\"|'[^']*'|[\[\]>]", re.DOTALL)
_SY_PERIODS = {"hourly": 3600, "daily": 86_400, "weekly": 604_800, "monthly": 2_592_000,
               "yearly": 31_536_000}  # fmt: skip


def strip_doctype(data: bytes) -> bytes:
    """``data`` without the DOCTYPE declaration (and its internal subset) of its prolog.

    Entity declarations only exist inside a DOCTYPE, so without it nothing can expand
    (billion laughs, quadratic blowup) and no external entity or DTD is referenced.
    """
    pos = 0
    while (item := _PROLOG_ITEM.match(data, pos)) is not None and item.end() > pos:
        pos = item.end()
    if data[pos : pos + 9].upper() != b"<!DOCTYPE":
        return data
    depth = 0
    for token in _DOCTYPE_TOKEN.finditer(data, pos + 9):
        kind = token.group()
        if kind == b"[":
            depth += 1
        elif kind == b"]":
            depth = max(0, depth - 1)
        elif kind == b">" and depth == 0:
            return data[:pos] + data[token.end() :]
    return data[:pos]  # unterminated DOCTYPE: nothing after it is a document


def _to_safe_utf8(body: bytes, charset: str | None) -> tuple[bytes, list[str]]:
    """Decode with feedparser's RFC 3023 rules, re-encode as UTF-8, drop the DOCTYPE.

    The body is always presented as application/xml: text/* without a charset would mean
    US-ASCII under RFC 3023, which real feeds never intend.
    """
    trusted = trusted_charset(body, charset)
    content_type = "application/xml" + (f"; charset={trusted}" if trusted else "")
    result: dict[str, Any] = {}
    data = convert_to_utf8({"content-type": content_type}, body, result)
    warnings = []
    problem = result.get("bozo_exception")
    if problem is not None:
        warnings.append(f"encoding: {problem}")
    return strip_doctype(data), warnings


def parse_xml_feed(body: bytes, url: str, charset: str | None) -> ParsedFeed:
    """An RSS, RDF or Atom document; ``charset`` is the one the server claimed, if any."""
    data, warnings = _to_safe_utf8(body, charset)
    parsed = feedparser.parse(
        io.BytesIO(data),
        response_headers={"content-type": "application/xml; charset=utf-8"},
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    feed = parsed.get("feed", {})
    feed_lang = str(feed.get("language") or _detail(feed, "title_detail").get("language") or "")
    entries = [_feedparser_entry(e, feed_lang, url) for e in parsed.get("entries", [])]
    usable = sum(e is not None for e in entries)
    if len(entries) > usable:
        warnings.append(f"dropped {len(entries) - usable} empty entries")
    problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if problem is not None and not isinstance(
        problem, CharacterEncodingOverride | NonXMLContentType
    ):
        if not usable:
            if not parsed.get("version"):
                raise FeedParseError(f"not a feed: no RSS, RDF or Atom document ({_why(problem)})")
            raise FeedParseError(f"broken feed: {_why(problem)}")
        warnings.append(f"not well-formed, parsed leniently: {_why(problem)}")
    elif not parsed.get("version") and not usable:
        raise FeedParseError("not a feed: no RSS, RDF or Atom root element")
    return make_feed(
        title=_text_of(feed, "title"),
        link=str(feed.get("link") or ""),
        entries=entries,
        lang=feed_lang,
        ttl_seconds=_ttl_seconds(feed),
        warnings=warnings,
        base_url=url,
    )


def _why(problem: BaseException) -> str:
    """One line about a parser exception, with its position when it has one."""
    line = getattr(problem, "getLineNumber", None)
    message = getattr(problem, "getMessage", None)
    if callable(line) and callable(message):
        return f"line {line()}: {message()}"
    return one_line(str(problem)) or type(problem).__name__


def _detail(mapping: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = mapping.get(key)
    return value if isinstance(value, Mapping) else {}


def _text_of(mapping: Mapping[str, Any], key: str, *, is_html: bool = False) -> RawText:
    """A feedparser text field and whether its (declared or sniffed) type is markup.

    ``is_html`` applies when the field has no type: feedparser copies an Atom entry's
    content into a missing summary without its type.
    """
    value = mapping.get(key)
    kind = _detail(mapping, f"{key}_detail").get("type")
    return RawText(
        value if isinstance(value, str) else "", is_html if kind is None else kind in _HTML_TYPES
    )


def _content_of(entry: Mapping[str, Any]) -> RawText:
    """All content blocks of an entry as one text (Atom allows one, RSS may repeat)."""
    blocks = [b for b in entry.get("content") or [] if isinstance(b, Mapping) and b.get("value")]
    if not blocks:
        return RawText("", False)
    is_html = any(b.get("type", "text/plain") in _HTML_TYPES for b in blocks)
    values = dict.fromkeys(str(b["value"]) for b in blocks)
    separator = "<br>" if is_html else "\n"
    return RawText(separator.join(values), is_html)


def _published(entry: Mapping[str, Any]) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        stamp = entry.get(key)
        if stamp:
            try:
                year, month, day, hour, minute, second = stamp[:6]
                return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
            except (TypeError, ValueError):
                continue
    return None


def _feedparser_entry(entry: Mapping[str, Any], feed_lang: str, base_url: str) -> Entry | None:
    content = _content_of(entry)
    first_block = (entry.get("content") or [{}])[0]
    lang = (
        _detail(entry, "title_detail").get("language")
        or _detail(entry, "summary_detail").get("language")
        or (first_block.get("language") if isinstance(first_block, Mapping) else None)
        or feed_lang
    )
    authors = [
        str(a.get("name") or a.get("email") or "")
        for a in entry.get("authors") or []
        if isinstance(a, Mapping)
    ]
    tags = [
        str(t.get("term") or t.get("label") or "")
        for t in entry.get("tags") or []
        if isinstance(t, Mapping)
    ]
    return make_entry(
        guid=entry.get("id"),
        title=_text_of(entry, "title"),
        link=str(entry.get("link") or ""),
        summary=_text_of(entry, "summary", is_html=content.is_html),
        content=content,
        published=_published(entry),
        authors=authors,
        categories=tags,
        lang=str(lang),
        base_url=base_url,
    )


def _ttl_seconds(feed: Mapping[str, Any]) -> int | None:
    """Refresh hint: RSS <ttl> (minutes), else sy:updatePeriod / sy:updateFrequency."""
    ttl = _positive_int(feed.get("ttl"))
    if ttl is not None:
        return ttl * 60
    period = _SY_PERIODS.get(str(feed.get("sy_updateperiod") or "").strip().lower())
    if period is None:
        return None
    frequency = _positive_int(feed.get("sy_updatefrequency")) or 1
    return max(1, period // frequency)


def _positive_int(value: Any) -> int | None:
    try:
        number = int(str(value).strip())
    except ValueError:
        return None
    return number if number > 0 else None
