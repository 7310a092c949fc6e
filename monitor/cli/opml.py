"""OPML subscription lists in and out: ``monitor feeds import`` / ``monitor feeds export``.

The config stays the one source of truth for feeds, so an import does not touch the store:
it turns a list into a YAML ``feeds:`` block to include, leaving out feeds already there.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

import listparser
import yaml

from monitor.config import parse_duration
from monitor.errors import ConfigError
from monitor.redact import redact_url


@dataclass(frozen=True, slots=True)
class Subscription:
    url: str
    title: str = ""


def read_opml(data: bytes, *, source: str) -> list[Subscription]:
    """The http(s) feeds of a subscription list (OPML, or another format listparser reads)."""
    parsed = listparser.parse(data)
    feeds = [
        Subscription(str(f.get("url") or "").strip(), str(f.get("title") or "").strip())
        for f in parsed.get("feeds", [])
    ]
    usable = [f for f in feeds if f.url.startswith(("http://", "https://"))]
    if not usable:
        problem = parsed.get("bozo_exception")
        why = f": {problem}" if problem else ""
        raise ConfigError(f"{source}: no http(s) feeds found in this subscription list{why}")
    return list({f.url: f for f in usable}.values())  # first title wins, order kept


def import_block(
    subscriptions: Iterable[Subscription],
    *,
    configured_urls: Iterable[str],
    taken_names: Iterable[str],
    interval: str | None = None,
) -> tuple[str, int]:
    """A YAML ``feeds:`` block of the subscriptions not configured yet, and how many it has."""
    if interval is not None:
        parse_duration(interval)  # a bad value fails here, not when the config next loads
    known = set(configured_urls)
    names = set(taken_names)
    entries: list[dict[str, str]] = []
    for sub in subscriptions:
        if sub.url in known:
            continue
        known.add(sub.url)
        entry = {"url": sub.url}
        if sub.title:
            entry["name"] = _unique(sub.title, names)
        if interval is not None:
            entry["interval"] = interval
        entries.append(entry)
    if not entries:
        return "", 0
    text = yaml.safe_dump({"feeds": entries}, allow_unicode=True, sort_keys=False, width=1000)
    return text, len(entries)


def _unique(title: str, taken: set[str]) -> str:
    name, n = title, 2
    while name in taken:
        name, n = f"{title} ({n})", n + 1
    taken.add(name)
    return name


def write_opml(feeds: Sequence[tuple[str, str]], *, now: datetime | None = None) -> str:
    """An OPML 2.0 document listing (name, url) pairs."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = "news-monitor feeds"
    ET.SubElement(head, "dateCreated").text = format_datetime(now or datetime.now(UTC), True)
    body = ET.SubElement(root, "body")
    for name, url in feeds:
        # Credentials in a feed URL stay in the config, not in a file made to be shared.
        ET.SubElement(body, "outline", type="rss", text=name, title=name, xmlUrl=redact_url(url))
    ET.indent(root)
    return "<?xml version='1.0' encoding='utf-8'?>\n" + ET.tostring(root, "unicode") + "\n"
