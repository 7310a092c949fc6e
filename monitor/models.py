"""Typed records passed between pipeline steps. Plain frozen dataclasses, no behaviour."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Entry:
    """One feed entry as the parser saw it: plain text, before identity is assigned."""

    guid: str | None
    title: str
    link: str
    summary: str
    content: str
    published: datetime | None  # UTC, tz-aware
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    lang: str = ""


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A parsed feed document."""

    title: str
    link: str
    entries: tuple[Entry, ...]
    lang: str = ""
    ttl_seconds: int | None = None  # <ttl> / sy:updatePeriod hints, if any
    warnings: tuple[str, ...] = ()  # non-fatal problems (bozo on a usable feed)


@dataclass(frozen=True, slots=True)
class Item:
    """A feed entry with its identity: the unit that is stored, matched and alerted on."""

    key: str  # unique within the feed: GUID, else normalized link, else content hash
    story_key: str  # the same story across feeds: normalized link, else the item key
    feed: str  # feed name
    feed_url: str
    title: str
    link: str
    summary: str
    content: str
    published: datetime | None
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    lang: str = ""


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """What the matcher needs of a configured rule."""

    name: str
    query: str
    stem: str | None = None  # e.g. "english" (Snowball)


@dataclass(frozen=True, slots=True)
class FieldHit:
    """Explain data for one matched field: a snippet with hits marked, and the terms."""

    field: str  # title, summary, content, author, category, link, feed
    snippet: str  # hits wrapped in ** **
    terms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RuleMatch:
    rule: str
    hits: tuple[FieldHit, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Alert:
    """A rule matched a story. ``id`` is the webhook-id, stable across every retry."""

    id: str
    rule: str
    item: Item
    hits: tuple[FieldHit, ...]
    created_at: datetime
