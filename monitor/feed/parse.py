"""Feed bytes -> ``ParsedFeed``. Pure (no I/O), so it can run in a process pool.

RSS 0.9x/1.0/2.0 and Atom go through feedparser, hardened: the body is decoded to UTF-8 and
its DOCTYPE (with any internal subset) is cut out before feedparser sees it, so no entity
expansion, external entity or DTD fetch can happen; feedparser only ever gets a file object
(a bytes or str argument that looks like a URL or path would be opened). JSON Feed 1.0/1.1
goes through a small adapter here, as released feedparser does not read it.
"""

from __future__ import annotations

import codecs
import html
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
from feedparser.encodings import convert_to_utf8
from feedparser.exceptions import CharacterEncodingOverride, NonXMLContentType

from monitor.errors import FeedParseError
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

JSONFEED_VERSION_PREFIX = "https://jsonfeed.org/version/"
_JSON_TYPES = frozenset({"application/feed+json", "application/json"})
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
# Single-byte charsets a server often claims by default for a body that is really UTF-8.
_SINGLE_BYTE = re.compile(r"^(ascii|latin_1|iso8859_\d+|cp125\d)$")
_PROLOG_ITEM = re.compile(rb"\s+|<\?.*?\?>|<!--.*?-->", re.DOTALL)
_DOCTYPE_TOKEN = re.compile(rb"<!--.*?-->|\"[^\"]*\"|'[^']*'|[\[\]>]", re.DOTALL)
_HTML_START = re.compile(
    rb"^(?:\s|<\?.*?\?>|<!--.*?-->)*<(?:!doctype\s+html|html[\s>]|head[\s>]|body[\s>])",
    re.IGNORECASE | re.DOTALL,
)
_BINARY_BYTES = re.compile(rb"[\x00-\x08\x0e-\x1f]")
_SY_PERIODS = {"hourly": 3600, "daily": 86_400, "weekly": 604_800, "monthly": 2_592_000,
               "yearly": 31_536_000}  # fmt: skip


def parse_feed(body: bytes, *, url: str, content_type: str | None = None) -> ParsedFeed:
    """Parse one feed document. ``url`` is where it came from (final URL after redirects):
    relative links resolve against it. Raises ``FeedParseError`` with one line if the body
    is not a usable feed."""
    stripped = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        raise FeedParseError("not a feed: the body is empty")
    mime, charset = _media_type(content_type)
    if stripped.startswith(b"{") or (mime in _JSON_TYPES and not stripped.startswith(b"<")):
        return _parse_json_feed(body, url)
    _reject_non_xml(stripped, body)
    return _parse_xml_feed(body, url, charset)


# --- shared entry assembly ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _RawText:
    """A field value as the feed gave it, and whether it is markup."""

    value: str
    is_html: bool


def _entry(
    *,
    guid: str | None,
    title: _RawText,
    link: str,
    summary: _RawText,
    content: _RawText,
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


def _feed_result(
    *,
    title: _RawText,
    link: str,
    entries: Iterable[Entry | None],
    lang: str,
    ttl_seconds: int | None,
    warnings: list[str],
    base_url: str,
) -> ParsedFeed:
    kept = tuple(e for e in entries if e is not None)
    return ParsedFeed(
        title=bounded_text(title.value, TITLE_MAX, is_html=title.is_html, single_line=True),
        link=absolute_link(link, base_url),
        entries=kept,
        lang=_lang(lang),
        ttl_seconds=ttl_seconds,
        warnings=tuple(warnings),
    )


# --- RSS / Atom through feedparser ----------------------------------------------------------


def _media_type(content_type: str | None) -> tuple[str, str | None]:
    """(lower-case media type, charset or None) of a Content-Type header value."""
    if not content_type:
        return "", None
    mime, _, params = content_type.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip(" \"'"):
            charset = value.strip(" \"'")
    return mime.strip().lower(), charset


def _reject_non_xml(stripped: bytes, body: bytes) -> None:
    """Fail fast, with a clear reason, on bodies that cannot be a feed."""
    head = stripped[:1024]
    if _HTML_START.match(head):
        raise FeedParseError("not a feed: looks like an HTML page")
    utf16_or_32 = body.startswith(_BOMS[1:]) or head[:2] in (b"<\x00", b"\x00<")
    if not utf16_or_32 and (b"\x00" in head or len(_BINARY_BYTES.findall(head)) > 8):
        raise FeedParseError("not a feed: binary data")


def _trusted_charset(body: bytes, charset: str | None) -> str | None:
    """The HTTP charset, unless the body itself says better.

    A byte-order mark wins over the header. A body that is valid UTF-8 with non-ASCII bytes
    is UTF-8 even when the server claims a single-byte charset (a common server default):
    real Latin-1 text is practically never valid UTF-8.
    """
    if charset is None or body.startswith(_BOMS):
        return None
    try:
        codec = codecs.lookup(charset).name
    except LookupError:
        return None
    if _SINGLE_BYTE.match(codec.replace("-", "_")) and not body.isascii():
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return charset
        return None
    return charset


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
    trusted = _trusted_charset(body, charset)
    content_type = "application/xml" + (f"; charset={trusted}" if trusted else "")
    result: dict[str, Any] = {}
    data = convert_to_utf8({"content-type": content_type}, body, result)
    warnings = []
    problem = result.get("bozo_exception")
    if problem is not None:
        warnings.append(f"encoding: {problem}")
    return strip_doctype(data), warnings


def _parse_xml_feed(body: bytes, url: str, charset: str | None) -> ParsedFeed:
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
    return _feed_result(
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


def _text_of(mapping: Mapping[str, Any], key: str, *, is_html: bool = False) -> _RawText:
    """A feedparser text field and whether its (declared or sniffed) type is markup.

    ``is_html`` applies when the field has no type: feedparser copies an Atom entry's
    content into a missing summary without its type.
    """
    value = mapping.get(key)
    kind = _detail(mapping, f"{key}_detail").get("type")
    return _RawText(
        value if isinstance(value, str) else "", is_html if kind is None else kind in _HTML_TYPES
    )


def _content_of(entry: Mapping[str, Any]) -> _RawText:
    """All content blocks of an entry as one text (Atom allows one, RSS may repeat)."""
    blocks = [b for b in entry.get("content") or [] if isinstance(b, Mapping) and b.get("value")]
    if not blocks:
        return _RawText("", False)
    is_html = any(b.get("type", "text/plain") in _HTML_TYPES for b in blocks)
    values = dict.fromkeys(str(b["value"]) for b in blocks)
    separator = "<br>" if is_html else "\n"
    return _RawText(separator.join(values), is_html)


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
    return _entry(
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


# --- JSON Feed 1.0 / 1.1 --------------------------------------------------------------------


def _parse_json_feed(body: bytes, url: str) -> ParsedFeed:
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
    feed_authors = _json_authors(doc)
    entries = [
        _json_entry(item, feed_lang, feed_authors, url) for item in items if isinstance(item, dict)
    ]
    warnings = []
    skipped = len(items) - sum(e is not None for e in entries)
    if skipped:
        warnings.append(f"dropped {skipped} empty or malformed items")
    return _feed_result(
        title=_RawText(html.unescape(_str(doc.get("title"))), False),
        link=_str(doc.get("home_page_url")),
        entries=entries,
        lang=feed_lang,
        ttl_seconds=None,
        warnings=warnings,
        base_url=url,
    )


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _json_authors(obj: Mapping[str, Any]) -> list[str]:
    """Author names: 1.1 ``authors`` list, else 1.0 ``author`` object."""
    authors = obj.get("authors")
    if not isinstance(authors, list):
        single = obj.get("author")
        authors = [single] if isinstance(single, dict) else []
    return [_str(a.get("name")) or _str(a.get("url")) for a in authors if isinstance(a, dict)]


def _json_date(value: Any) -> datetime | None:
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


def _json_entry(
    item: Mapping[str, Any], feed_lang: str, feed_authors: list[str], base_url: str
) -> Entry | None:
    raw_id = item.get("id")
    guid = str(raw_id) if isinstance(raw_id, str | int) and not isinstance(raw_id, bool) else None
    html_body = _str(item.get("content_html"))
    content = (
        _RawText(html_body, True) if html_body else _RawText(_str(item.get("content_text")), False)
    )
    tags = item.get("tags")
    return _entry(
        guid=guid,
        # Plain text by the spec, yet publishers (WordPress) leave entities in it.
        title=_RawText(html.unescape(_str(item.get("title"))), False),
        link=_str(item.get("url")) or _str(item.get("external_url")),
        summary=_RawText(_str(item.get("summary")), False),
        content=content,
        published=_json_date(item.get("date_published")) or _json_date(item.get("date_modified")),
        authors=_json_authors(item) or feed_authors,
        categories=[t for t in tags if isinstance(t, str)] if isinstance(tags, list) else [],
        lang=_str(item.get("language")) or feed_lang,
        base_url=base_url,
    )
