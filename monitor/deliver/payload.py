"""The ``alert.matched`` webhook document, schema version 1 (``monitor/schema/alert.v1.json``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from monitor.models import Alert

SCHEMA_VERSION: int = 1
EVENT_TYPE = "alert.matched"
# Some feeds put a whole article in the summary; keep every webhook body bounded.
SUMMARY_LIMIT = 2000
ELLIPSIS = "…"

# C0/C1 controls except tab and newline: JSON could carry them, but no consumer wants them.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC. The shared models keep UTC, so a naive value is taken as UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def iso_utc(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, to the second: ``2024-05-01T12:00:00Z``."""
    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def clean_text(text: str) -> str:
    """Text that always encodes as UTF-8: lone surrogates become U+FFFD, controls go."""
    # A round trip through UTF-16 pairs up valid surrogate pairs and replaces lone ones.
    whole = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return _CONTROL.sub("", whole)


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending with an ellipsis if cut."""
    if len(text) <= limit:
        return text
    return text[: max(limit - len(ELLIPSIS), 0)] + ELLIPSIS


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
            "feed": {"name": clean_text(item.feed), "url": clean_text(item.feed_url)},
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
