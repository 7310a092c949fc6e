from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from importlib.resources import files
from typing import Any

import jsonschema
import pytest

from monitor.documents.payload import SCHEMA_VERSION, alert_payload
from monitor.models import Alert, FieldHit
from monitor.text import clean_text, clip

MakeAlert = Callable[..., Alert]


def load_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(
        files("monitor").joinpath("documents/schema/alert.v1.json").read_text(encoding="utf-8")
    )
    return schema


VALIDATOR = jsonschema.Draft202012Validator(
    load_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
)

ALERT_VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("typical", {}),
    ("no published date", {"published": None}),
    ("no hits", {"hits": ()}),
    (
        "non-ASCII everywhere",
        {
            "title": "Zentralbank erhöht Zinsen — 央行加息 🚀",
            "summary": "Ünïcödé “quotes” and emoji 👩‍💻",
            "authors": ("José Álvarez", "李雷"),
            "categories": ("Économie",),
            "feed": "Nachrichten ✓",
            "lang": "de",
            "hits": (FieldHit("title", "**Zentralbank** erhöht", ("zentralbank",)),),
        },
    ),
    ("empty lists and strings", {"authors": (), "categories": (), "lang": "", "link": ""}),
    (
        "several hits",
        {
            "hits": (
                FieldHit("title", "**rates**", ("rate",)),
                FieldHit("summary", "raised **rates** by", ("rate",)),
                FieldHit("category", "**banks**", ("bank",)),
            )
        },
    ),
    (
        "published in another zone",
        {"published": datetime(2024, 5, 1, 9, 0, tzinfo=timezone(timedelta(hours=-5)))},
    ),
]


def test_schema_itself_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(load_schema())


@pytest.mark.parametrize(("name", "changes"), ALERT_VARIANTS, ids=[n for n, _ in ALERT_VARIANTS])
def test_payload_validates_against_schema(
    make_alert: MakeAlert, name: str, changes: dict[str, Any]
) -> None:
    payload = alert_payload(make_alert(**changes))
    VALIDATOR.validate(payload)
    # What the consumer gets must survive a JSON round trip unchanged.
    assert json.loads(json.dumps(payload, ensure_ascii=False)) == payload


def test_payload_fields(make_alert: MakeAlert) -> None:
    alert = make_alert()
    payload = alert_payload(alert)
    assert payload["type"] == "alert.matched"
    assert payload["schema_version"] == SCHEMA_VERSION == 1
    assert payload["timestamp"] == "2024-05-01T12:00:05Z"
    data = payload["data"]
    assert data["alert_id"] == alert.id
    assert data["rule"] == alert.rule
    assert data["item"] == {
        "id": alert.item.key,
        "title": alert.item.title,
        "link": alert.item.link,
        "summary": alert.item.summary,
        "published": "2024-05-01T11:30:00Z",
        "authors": list(alert.item.authors),
        "categories": list(alert.item.categories),
        "lang": alert.item.lang,
    }
    assert data["feed"] == {"name": alert.item.feed, "url": alert.item.feed_url}
    assert data["matches"] == [
        {"field": hit.field, "snippet": hit.snippet, "terms": list(hit.terms)} for hit in alert.hits
    ]


def test_feed_url_goes_out_without_its_credentials(make_alert: MakeAlert) -> None:
    alert = make_alert(feed_url="https://reader:pw@news.example/feed.xml?token=t&page=2")
    feed = alert_payload(alert)["data"]["feed"]
    assert feed["url"] == "https://news.example/feed.xml?token=***&page=2"
    VALIDATOR.validate(alert_payload(alert))


def test_times_are_converted_to_utc(make_alert: MakeAlert) -> None:
    eastern = timezone(timedelta(hours=-5))
    payload = alert_payload(
        make_alert(published=datetime(2024, 5, 1, 9, 0, 30, 999, tzinfo=eastern))
    )
    assert payload["data"]["item"]["published"] == "2024-05-01T14:00:30Z"


def test_long_summary_is_clipped_with_ellipsis(make_alert: MakeAlert) -> None:
    payload = alert_payload(make_alert(summary="word " * 1000))
    summary = payload["data"]["item"]["summary"]
    assert len(summary) == 2000
    assert summary.endswith("…")
    VALIDATOR.validate(payload)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("plain", "plain"),
        ("tab\tand\nnewline stay", "tab\tand\nnewline stay"),
        ("nul\x00bell\x07esc\x1bdel\x7fc1\x85gone", "nulbellescdelc1gone"),
        ("lone \ud800 surrogate", "lone \ufffd surrogate"),
        ("pair \ud83d\ude80 joined", "pair 🚀 joined"),
    ],
)
def test_clean_text(raw: str, expected: str) -> None:
    assert clean_text(raw) == expected
    clean_text(raw).encode("utf-8")  # never raises


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [("short", 10, "short"), ("exactly10!", 10, "exactly10!"), ("eleven char", 10, "eleven ch…")],
)
def test_clip(text: str, limit: int, expected: str) -> None:
    assert clip(text, limit) == expected


@pytest.mark.parametrize(
    ("path", "bad_value"),
    [
        (("type",), "alert.other"),
        (("schema_version",), 2),
        (("timestamp",), "2024-05-01 12:00:05"),
        (("timestamp",), "2024-05-01T12:00:05+02:00"),
        (("data", "alert_id"), ""),
        (("data", "item", "published"), "yesterday"),
        (("data", "item", "authors"), "A. Writer"),
        (("data", "matches"), [{"field": "title", "snippet": "x"}]),
        (("data", "matches"), [{"field": "body", "snippet": "x", "terms": []}]),
        (("data", "feed", "extra"), "not allowed"),
        (("data", "item", "extra"), "not allowed"),
        (("extra",), "not allowed"),
    ],
)
def test_schema_rejects_drift(make_alert: MakeAlert, path: tuple[str, ...], bad_value: Any) -> None:
    payload = alert_payload(make_alert())
    target = payload
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = bad_value
    with pytest.raises(jsonschema.ValidationError):
        VALIDATOR.validate(payload)


@pytest.mark.parametrize("missing", ["type", "schema_version", "timestamp", "data"])
def test_schema_requires_top_level_fields(make_alert: MakeAlert, missing: str) -> None:
    payload = alert_payload(make_alert())
    del payload[missing]
    with pytest.raises(jsonschema.ValidationError):
        VALIDATOR.validate(payload)


def test_naive_created_at_is_taken_as_utc(make_alert: MakeAlert) -> None:
    alert = make_alert()
    naive = type(alert)(alert.id, alert.rule, alert.item, alert.hits, datetime(2024, 1, 2, 3, 4, 5))
    assert alert_payload(naive)["timestamp"] == "2024-01-02T03:04:05Z"
