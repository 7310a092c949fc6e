"""The JSON formats: the payload as it is (``json``) and as a CloudEvent (``cloudevents``).

``json_bytes`` is how every format writes its body: compact UTF-8 JSON.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

SCHEMA_ID = "urn:news-monitor:schema:alert:v1"
CLOUDEVENTS_TYPE = "org.newsmonitor.alert.matched"
DIGEST_SCHEMA_ID = "urn:news-monitor:schema:digest:v1"
DIGEST_CLOUDEVENTS_TYPE = "org.newsmonitor.alert.digest"


def json_bytes(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def render_json(payload: dict[str, Any]) -> tuple[str, bytes]:
    return "application/json", json_bytes(payload)


def render_cloudevents(payload: dict[str, Any]) -> tuple[str, bytes]:
    data = payload["data"]
    event = {
        "specversion": "1.0",
        "id": data["alert_id"],
        # A URI reference; the feed name is percent-encoded so any name makes a valid one.
        "source": "news-monitor/feeds/" + quote(data["feed"]["name"], safe=""),
        "type": CLOUDEVENTS_TYPE,
        "subject": data["rule"],
        "time": payload["timestamp"],
        "datacontenttype": "application/json",
        "dataschema": SCHEMA_ID,
        "data": data,
    }
    return "application/cloudevents+json", json_bytes(event)


def render_digest_cloudevents(payload: dict[str, Any]) -> tuple[str, bytes]:
    data = payload["data"]
    event = {
        "specversion": "1.0",
        "id": data["digest_id"],
        "source": "news-monitor/digests/" + quote(data["kind"], safe=""),
        "type": DIGEST_CLOUDEVENTS_TYPE,
        "subject": data["rule"] or data["kind"],
        "time": payload["timestamp"],
        "datacontenttype": "application/json",
        "dataschema": DIGEST_SCHEMA_ID,
        "data": data,
    }
    return "application/cloudevents+json", json_bytes(event)
