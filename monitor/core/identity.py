"""Item and story identity: pure functions of an entry and its feed.

* item key — unique within a feed: the GUID, else the normalized link, else a content hash.
  Feeds that repeat one GUID for different entries get the repeats disambiguated by link.
* story key — the same story across feeds: the link without scheme, ``www.``, fragment or
  tracking parameters; an entry whose link is only a site root has no cross-feed identity,
  so its story key is scoped to its feed (a feed linking every entry to its home page must
  not collapse into one story).

``items_from_document`` is the one way from a feed document's bytes to its items: parse,
then identify.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from monitor.feed.parse import parse_feed
from monitor.models import Entry, Item

_TRACKING_PARAM = re.compile(
    r"^(utm_\w+|fbclid|gclid|dclid|gbraid|wbraid|msclkid|yclid|mc_cid|mc_eid|igshid|"
    r"_ga|_gl|_hsenc|_hsmi|mkt_tok|oly_anon_id|oly_enc_id|vero_id|wt_mc|wt\.mc_id|"
    r"at_medium|at_campaign|at_custom\d|cmpid|ncid|ocid|sr_share|s_cid|ito|smid)$",
    re.IGNORECASE,
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SPACE = re.compile(r"\s+")


def normalize_link(url: str) -> str:
    """Lower-case scheme and host, drop default port, fragment and tracking parameters."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not _TRACKING_PARAM.match(k)
    ]
    path = parts.path or "/"
    return urlunsplit((scheme, host, path, urlencode(sorted(query)), ""))


def _content_hash(entry: Entry) -> str:
    text = " ".join((entry.title, entry.summary, entry.content))
    folded = _SPACE.sub(" ", text).strip().casefold()
    return hashlib.sha256(folded.encode("utf-8")).hexdigest()[:32]


def item_key(entry: Entry) -> str:
    if entry.guid and entry.guid.strip():
        return f"guid:{entry.guid.strip()}"
    if entry.link:
        return f"link:{normalize_link(entry.link)}"
    return f"hash:{_content_hash(entry)}"


def story_key(entry: Entry, key: str, feed_url: str) -> str:
    if entry.link:
        parts = urlsplit(normalize_link(entry.link))
        if parts.path.strip("/") or parts.query:
            host = parts.netloc.removeprefix("www.")
            query = f"?{parts.query}" if parts.query else ""
            return f"url:{host}{parts.path}{query}"
    return f"feed:{normalize_link(feed_url)}|{key}"


def identify(entries: Iterable[Entry], *, feed: str, feed_url: str) -> list[Item]:
    """Give each entry its keys. Entries repeated within one document are kept once."""
    items: list[Item] = []
    seen: set[str] = set()
    first_variant: dict[str, str] = {}  # key -> link (or hash) of its first entry
    for entry in entries:
        key = item_key(entry)
        variant = normalize_link(entry.link) if entry.link else _content_hash(entry)
        if key in first_variant and entry.guid and variant != first_variant[key]:
            # A GUID reused for a different entry: tell them apart by link or content.
            key = f"{key}#{variant}"
        if key in seen:
            continue
        seen.add(key)
        first_variant.setdefault(key, variant)
        items.append(
            Item(
                key=key,
                story_key=story_key(entry, key, feed_url),
                feed=feed,
                feed_url=feed_url,
                title=entry.title,
                link=entry.link,
                summary=entry.summary,
                content=entry.content,
                published=entry.published,
                authors=entry.authors,
                categories=entry.categories,
                lang=entry.lang,
            )
        )
    return items


@dataclass(frozen=True, slots=True)
class DocumentItems:
    """A feed document's items, and what its parse said about the feed."""

    items: tuple[Item, ...]
    ttl_seconds: int | None  # the feed's refresh hint, if it gives one
    warnings: tuple[str, ...]


def items_from_document(
    body: bytes, *, url: str, content_type: str | None = None, feed: str, feed_url: str
) -> DocumentItems:
    """Parse one feed document and identify its entries. Raises ``FeedParseError``.

    ``url`` is where the body came from (final URL): relative links resolve against it.
    ``feed`` is the feed's name; ``feed_url`` its configured URL, part of every item's key.
    """
    parsed = parse_feed(body, url=url, content_type=content_type)
    items = identify(parsed.entries, feed=feed, feed_url=feed_url)
    return DocumentItems(tuple(items), parsed.ttl_seconds, parsed.warnings)


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def alert_id(now: float, entropy: bytes) -> str:
    """A webhook-id: ``msg_`` + a ULID (48-bit milliseconds + 80 random bits), time-sortable."""
    if len(entropy) != 10:
        raise ValueError("alert_id needs 10 bytes of entropy")
    value = (int(now * 1000) << 80) | int.from_bytes(entropy, "big")
    chars = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        chars.append(_CROCKFORD[digit])
    return "msg_" + "".join(reversed(chars))
