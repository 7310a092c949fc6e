"""Identity keys: pure, table-driven."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.core.identity import (
    alert_id,
    identify,
    item_key,
    items_from_document,
    normalize_link,
    story_key,
)
from monitor.errors import FeedParseError
from monitor.models import Entry


def entry(guid: str | None = None, link: str = "", title: str = "t", summary: str = "") -> Entry:
    return Entry(guid=guid, title=title, link=link, summary=summary, content="", published=None)


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("HTTPS://News.Example.ORG/a/b?id=3#top", "https://news.example.org/a/b?id=3"),
        ("http://example.org:80/x", "http://example.org/x"),
        ("https://example.org:8443/x", "https://example.org:8443/x"),
        ("https://example.org", "https://example.org/"),
        (
            "https://example.org/s?utm_source=tw&utm_medium=social&id=7&fbclid=abc&gclid=z",
            "https://example.org/s?id=7",
        ),
        ("https://example.org/s?b=2&a=1", "https://example.org/s?a=1&b=2"),
        ("https://example.org/s?WT_MC=rss&x=1", "https://example.org/s?x=1"),
        ("  https://example.org/p  ", "https://example.org/p"),
        ("https://example.org/path/Case", "https://example.org/path/Case"),
        ("http://[::1]:99999/x", "http://[::1]:99999/x"),
    ],
)
def test_normalize_link(raw: str, normal: str) -> None:
    assert normalize_link(raw) == normal


@pytest.mark.parametrize(
    ("e", "key"),
    [
        (entry(guid="urn:1", link="https://a.example/x"), "guid:urn:1"),
        (entry(guid="  ", link="https://A.example/x?utm_source=r"), "link:https://a.example/x"),
        (entry(link="https://a.example/x#frag"), "link:https://a.example/x"),
    ],
)
def test_item_key_prefers_guid_then_link(e: Entry, key: str) -> None:
    assert item_key(e) == key


def test_item_key_falls_back_to_a_content_hash_that_ignores_case_and_spacing() -> None:
    one = item_key(entry(title="Party  Quits", summary="x"))
    two = item_key(entry(title="party quits", summary="x"))
    assert one == two
    assert one.startswith("hash:")
    assert item_key(entry(title="other", summary="x")) != one


def test_story_key_ignores_scheme_www_and_tracking() -> None:
    a = story_key(entry(link="http://www.news.example/s/1?utm_campaign=x"), "k", "http://f1/")
    b = story_key(entry(link="https://news.example/s/1"), "k2", "http://f2/")
    assert a == b == "url:news.example/s/1"


def test_story_key_of_a_site_root_link_stays_within_its_feed() -> None:
    a = story_key(entry(link="https://news.example/"), "guid:1", "https://f1.example/rss")
    b = story_key(entry(link="https://news.example/"), "guid:1", "https://f2.example/rss")
    assert a != b
    assert a == "feed:https://f1.example/rss|guid:1"


def test_identify_disambiguates_reused_guids_and_drops_exact_repeats() -> None:
    entries = [
        entry(guid="same", link="https://a.example/1"),
        entry(guid="same", link="https://a.example/2"),
        entry(guid="same", link="https://a.example/1"),
        entry(link="https://a.example/3"),
        entry(link="https://a.example/3"),
    ]
    items = identify(entries, feed="a", feed_url="https://a.example/rss")
    assert [i.key for i in items] == [
        "guid:same",
        "guid:same#https://a.example/2",
        "link:https://a.example/3",
    ]
    assert items[0].feed == "a"


_RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>A</title><ttl>30</ttl>
<item><guid>g1</guid><title>One</title><link>/1</link></item>
<item><title>Two</title><link>/2?utm_source=x</link></item>
<item><guid>g1</guid><title>One again</title><link>/1</link></item>
</channel></rss>"""


def test_items_from_document_parses_then_identifies() -> None:
    document = items_from_document(
        _RSS,
        url="https://a.example/feed/rss",
        content_type="application/rss+xml",
        feed="a",
        feed_url="https://a.example/rss",
    )
    # Links resolve against where the body came from; keys use the configured feed URL.
    assert [(i.key, i.link, i.feed_url) for i in document.items] == [
        ("guid:g1", "https://a.example/1", "https://a.example/rss"),
        ("link:https://a.example/2", "https://a.example/2?utm_source=x", "https://a.example/rss"),
    ]
    assert document.ttl_seconds == 1800
    assert document.warnings == ()


def test_items_from_document_raises_on_a_non_feed() -> None:
    with pytest.raises(FeedParseError, match="HTML page"):
        items_from_document(b"<html><body>hi</body></html>", url="u", feed="a", feed_url="u")


def test_alert_ids_are_ulids_that_sort_by_time() -> None:
    early = alert_id(datetime(2025, 1, 1, tzinfo=UTC).timestamp(), bytes(10))
    late = alert_id(datetime(2025, 1, 2, tzinfo=UTC).timestamp(), b"\xff" * 10)
    assert early.startswith("msg_")
    assert len(early) == 30
    assert early < late
    assert alert_id(1.0, b"\x01" * 10) != alert_id(1.0, b"\x02" * 10)
    with pytest.raises(ValueError, match="entropy"):
        alert_id(1.0, b"short")
