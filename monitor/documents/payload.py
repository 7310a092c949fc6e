"""The ``alert.matched`` webhook document, schema version 1
(``monitor/documents/schema/alert.v1.json``), and the ``alert.digest`` one
(``monitor/documents/schema/digest.v1.json``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from monitor.models import Alert, SealedDigest
from monitor.redact import redact_url
from monitor.text import clean_text, clip

SCHEMA_VERSION: int = 1
EVENT_TYPE = "alert.matched"
# Some feeds put a whole article in the summary; keep every webhook body bounded.
SUMMARY_LIMIT = 2000


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC. The shared models keep UTC, so a naive value is taken as UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def iso_utc(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, to the second: ``2024-05-01T12:00:00Z``."""
    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def alert_payload(alert: Alert) -> dict[str, Any]:
    """The JSON-ready document for one alert; every string in it is clean text."""
    item = alert.item
    return {
        "type": EVENT_TYPE,
        "schema_version": SCHEMA_VERSION,
        "timestamp": iso_utc(alert.created_at),
        "data": {
            "alert_id": clean_text(alert.id),
            "rule": clean_text(alert.rule),
            "item": {
                "id": clean_text(item.key),
                "title": clean_text(item.title),
                "link": clean_text(item.link),
                "summary": clip(clean_text(item.summary), SUMMARY_LIMIT),
                "published": iso_utc(item.published) if item.published else None,
                "authors": [clean_text(author) for author in item.authors],
                "categories": [clean_text(category) for category in item.categories],
                "lang": clean_text(item.lang),
            },
            # Consumers see where the item came from, never the feed's credentials.
            "feed": {"name": clean_text(item.feed), "url": redact_url(clean_text(item.feed_url))},
            "matches": [
                {
                    "field": hit.field,
                    "snippet": clean_text(hit.snippet),
                    "terms": [clean_text(term) for term in hit.terms],
                }
                for hit in alert.hits
            ],
        },
    }


# --- the ``alert.digest`` document (``monitor/documents/schema/digest.v1.json``) ------------------

DIGEST_EVENT_TYPE = "alert.digest"
DIGEST_SCHEMA_VERSION: int = 1
DIGEST_LIMIT = 100  # alerts listed in one digest; ``count`` is always the whole number
DIGEST_SNIPPET_LIMIT = 300
DIGEST_TITLE_LIMIT = 500
DIGEST_LINK_LIMIT = 2000


def _utc(seconds: float) -> str:
    return iso_utc(datetime.fromtimestamp(seconds, UTC))


def digest_entry(
    alert_id: str, rule: str, created_at: float, alert: Mapping[str, Any]
) -> dict[str, Any]:
    """One listed alert of a digest, from its stored ``alert.matched`` document."""

    def part(parent: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        value = parent.get(key)
        return value if isinstance(value, Mapping) else {}

    data = part(alert, "data")
    item, feed = part(data, "item"), part(data, "feed")
    found = data.get("matches")
    matches: list[Any] = found if isinstance(found, list) else []
    snippet = next(
        (str(m["snippet"]) for m in matches if isinstance(m, Mapping) and m.get("snippet")),
        str(item.get("summary") or ""),
    )
    return {
        "alert_id": clean_text(alert_id),
        "rule": clean_text(rule),
        "created_at": _utc(created_at),
        "title": clip(clean_text(str(item.get("title") or "")), DIGEST_TITLE_LIMIT),
        "link": clip(clean_text(str(item.get("link") or "")), DIGEST_LINK_LIMIT),
        "feed": clean_text(str(feed.get("name") or "")),
        "snippet": clip(clean_text(snippet), DIGEST_SNIPPET_LIMIT),
    }


def digest_payload(
    *,
    digest_id: str,
    kind: str,
    window_start: float,
    window_end: float,
    created_at: float,
    count: int,
    entries: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """The digest document: the window, how many alerts, and the first ``DIGEST_LIMIT``.

    ``kind`` is ``hourly``, ``daily`` or ``throttle:<rule>``; ``entries`` come from
    ``digest_entry``, oldest first.
    """
    listed = [dict(entry) for entry in entries[:DIGEST_LIMIT]]
    rule = kind.removeprefix("throttle:") if kind.startswith("throttle:") else None
    return {
        "type": DIGEST_EVENT_TYPE,
        "schema_version": DIGEST_SCHEMA_VERSION,
        "timestamp": _utc(created_at),
        "data": {
            "digest_id": clean_text(digest_id),
            "kind": "throttle" if rule is not None else kind,
            "rule": clean_text(rule) if rule is not None else None,
            "window": {"start": _utc(window_start), "end": _utc(window_end)},
            "count": max(count, len(listed)),
            "omitted": max(count, len(listed)) - len(listed),
            "alerts": listed,
        },
    }


def digest_document(digest: SealedDigest) -> dict[str, Any]:
    """The document of a digest being sealed (``Store.seal_due_digests`` lists the oldest
    ``DIGEST_LIMIT`` of its alerts)."""
    return digest_payload(
        digest_id=digest.id,
        kind=digest.kind,
        window_start=digest.window_start,
        window_end=digest.window_end,
        created_at=digest.sealed_at,
        count=digest.count,
        entries=[digest_entry(a.id, a.rule, a.created_at, a.payload) for a in digest.alerts],
    )


def is_digest(payload: Mapping[str, Any]) -> bool:
    return payload.get("type") == DIGEST_EVENT_TYPE
