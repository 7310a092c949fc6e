"""Hostile and broken bodies: entity bombs, external entities, non-feeds, huge feeds."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

import pytest

from monitor.errors import FeedParseError
from monitor.feed.entries import CONTENT_MAX, SUMMARY_MAX, TITLE_MAX
from monitor.feed.parse import parse_feed
from monitor.feed.rss import strip_doctype
from monitor.models import ParsedFeed

if TYPE_CHECKING:
    from conftest import Canary

URL = "https://feeds.example/feed.xml"


def rss(items: str, prolog: str = "", channel: str = "<title>Hostile</title>") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n{prolog}'
        f'<rss version="2.0"><channel>{channel}{items}</channel></rss>'
    ).encode()


def timed_parse(body: bytes, content_type: str | None = None) -> tuple[ParsedFeed, float]:
    started = time.perf_counter()
    feed = parse_feed(body, url=URL, content_type=content_type)
    return feed, time.perf_counter() - started


BILLION_LAUGHS = (
    "<!DOCTYPE rss [\n<!ENTITY lol0 'lol'>\n"
    + "".join(f"<!ENTITY lol{i} '{f'&lol{i - 1};' * 10}'>\n" for i in range(1, 10))
    + "]>\n"
)
QUADRATIC = f'<!DOCTYPE rss [<!ENTITY big "{"x" * 100_000}">]>\n'


@pytest.mark.parametrize(
    ("prolog", "reference"),
    [
        (BILLION_LAUGHS, "&lol9;"),
        (QUADRATIC, "&big;" * 20_000),
        # A '>' and ']' inside quoted entity values must not end the DOCTYPE early.
        ("<!DOCTYPE rss [<!ENTITY a \"]>\"> <!-- ]> --> <!ENTITY b '>'>]>\n", "&a;&b;"),
    ],
)
def test_entity_bombs_do_not_expand(prolog: str, reference: str) -> None:
    body = rss(f"<item><title>t {reference}</title><link>https://x.example/1</link></item>", prolog)
    feed, seconds = timed_parse(body)
    assert seconds < 1.0
    assert len(feed.entries) == 1
    title = feed.entries[0].title
    assert len(title) <= TITLE_MAX
    assert "lollol" not in title
    assert "xxxx" not in title
    assert "]" not in title


def test_billion_laughs_in_utf16_is_stripped_too() -> None:
    body = rss("<item><title>&lol9;</title><link>https://x.example/1</link></item>", BILLION_LAUGHS)
    body = body.decode().replace('encoding="utf-8"', 'encoding="utf-16"').encode("utf-16")
    feed, seconds = timed_parse(body)
    assert seconds < 1.0
    assert "lollol" not in feed.entries[0].title


@pytest.mark.parametrize(
    "prolog",
    [
        '<!DOCTYPE rss [<!ENTITY ext SYSTEM "{url}">]>\n',
        '<!DOCTYPE rss SYSTEM "{url}">\n',
        '<!DOCTYPE rss [<!ENTITY % p SYSTEM "{url}"> %p;]>\n',
    ],
)
def test_external_entities_and_dtds_are_never_fetched(canary: Canary, prolog: str) -> None:
    body = rss(
        "<item><title>a &ext; b</title><link>https://x.example/1</link></item>",
        prolog.format(url=canary.url("/dtd")),
    )
    feed = parse_feed(body, url=URL)
    assert canary.hits == []
    assert "SECRET" not in feed.entries[0].title


def test_xinclude_is_never_fetched(canary: Canary) -> None:
    item = (
        '<item xmlns:xi="http://www.w3.org/2001/XInclude"><title>x</title>'
        f'<description><xi:include href="{canary.url("/inc")}" parse="text"/></description>'
        "<link>https://x.example/1</link></item>"
    )
    feed = parse_feed(rss(item), url=URL)
    assert canary.hits == []
    assert "SECRET" not in feed.entries[0].summary


def test_feed_url_argument_is_never_fetched(canary: Canary) -> None:
    """A body that *is* a URL must be parsed as bytes, not opened by feedparser."""
    with pytest.raises(FeedParseError, match="not a feed"):
        parse_feed(canary.url("/feed.xml").encode(), url=canary.url("/feed.xml"))
    assert canary.hits == []


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"", None, "not a feed: the body is empty"),
        (b" \r\n\t ", "application/rss+xml", "not a feed: the body is empty"),
        (b"<!DOCTYPE html><html><head><title>Hi</title></head></html>", "text/html",
         "not a feed: looks like an HTML page"),
        (b"\xef\xbb\xbf\n<!-- cms -->\n<HTML lang=en><body>Sorry</body></HTML>", None,
         "not a feed: looks like an HTML page"),
        (b'<?xml version="1.0"?>\n<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0//EN" "x">'
         b"<html/>", None, "not a feed: looks like an HTML page"),
        (bytes(range(256)) * 8, None, "not a feed: binary data"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png", "not a feed: binary data"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\x00", None, "not a feed: binary data"),
        (b'{"status": "ok", "items": []}', "application/json",
         "not a feed: JSON but not a JSON Feed"),
        (b'{"version": "https://example.org/v1", "items": []}', None,
         "not a feed: JSON but not a JSON Feed"),
        (b"[1, 2, 3]", "application/json", "not a feed: JSON but not a JSON Feed"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": [', None,
         "not a feed: invalid JSON"),
        (b"[" * 100_000, "application/json", "not a feed: invalid JSON"),
        (b'{"version": "https://jsonfeed.org/version/1", "title": "x"}', None,
         "broken JSON Feed: 'items' is missing or not a list"),
        (b"<?xml version='1.0'?><catalog><book>Dune</book></catalog>", None,
         "not a feed: no RSS, RDF or Atom root element"),
        (b"just some words, not markup", "text/plain", "not a feed:"),
        (b"<?xml version='1.0'?><rss version='2.0'><channel><title>cut", None,
         "broken feed: line 1: no element found"),
        (b"\xef\xbb\xbf<rss version='2.0'><channel><title>\xff\xfe bad</tit", None,
         "broken feed: line "),
    ],
)  # fmt: skip
def test_not_a_feed(body: bytes, content_type: str | None, message: str) -> None:
    with pytest.raises(FeedParseError) as caught:
        parse_feed(body, url=URL, content_type=content_type)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_bozo_feed_with_entries_is_usable_with_a_warning() -> None:
    body = rss(
        "<item><title>fine</title><link>https://x.example/1</link></item>"
        "<item><title>broken & unescaped</title><link>https://x.example/2</link></item>"
    )
    feed = parse_feed(body, url=URL)
    assert [e.title for e in feed.entries] == ["fine", "broken & unescaped"]
    assert feed.warnings == (
        "not well-formed, parsed leniently: line 2: not well-formed (invalid token)",
    )


def test_invalid_utf8_in_a_utf8_feed_still_parses() -> None:
    body = rss("<item><title>caf\xe9 ok</title><link>https://x.example/1</link></item>")
    body = body.replace("caf\xe9".encode(), b"caf\xe9 \xc3\x28 \xff")
    feed = parse_feed(body, url=URL)
    assert feed.entries[0].title.startswith("caf")
    assert feed.warnings  # decoded with a fallback and said so


def test_ten_thousand_items() -> None:
    items = "".join(
        f"<item><guid>id-{i}</guid><title>Item {i}</title>"
        f"<link>/a/{i}</link><description>&lt;p&gt;Body {i}&lt;/p&gt;</description></item>"
        for i in range(10_000)
    )
    feed, seconds = timed_parse(rss(items))
    assert len(feed.entries) == 10_000
    assert feed.entries[-1].guid == "id-9999"
    assert feed.entries[9_999].link == "https://feeds.example/a/9999"
    assert feed.entries[5].summary == "Body 5"
    assert seconds < 10


def test_megabyte_fields_are_bounded_on_word_boundaries() -> None:
    words = "lorem ipsum dolor " * 60_000  # ~1 MB
    item = (
        f"<item><title>{words}</title><link>https://x.example/1</link>"
        f"<description>{words}</description>"
        f"<content:encoded xmlns:content='http://purl.org/rss/1.0/modules/content/'>"
        f"<![CDATA[<p>{words}</p>]]></content:encoded></item>"
    )
    feed, seconds = timed_parse(rss(item))
    entry = feed.entries[0]
    assert seconds < 2
    for text, limit in ((entry.title, TITLE_MAX), (entry.summary, SUMMARY_MAX),
                        (entry.content, CONTENT_MAX)):  # fmt: skip
        assert limit - 20 < len(text) <= limit
        assert text.endswith("…")
        assert text[:-1].split(" ")[-1] in ("lorem", "ipsum", "dolor")


def test_control_characters_and_lone_surrogates_are_removed() -> None:
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "ctl\u0007feed",
        "items": [{"id": "1", "title": "a\u0000b\u001bc\ud800d\u0085e\ufffff", "url": "/x"}],
    }
    feed = parse_feed(json.dumps(doc).encode(), url=URL)
    assert (feed.title, feed.entries[0].title) == ("ctlfeed", "abcdef")


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("javascript:alert(1)", ""),
        ("mailto:desk@x.example", ""),
        ("//cdn.example/a", "https://cdn.example/a"),
        ("../up", "https://feeds.example/up"),
        ("http://[::1", ""),
    ],
)
def test_only_http_links_survive(link: str, expected: str) -> None:
    item = f"<item><title>t</title><link>{link}</link></item>"
    assert parse_feed(rss(item), url=URL).entries[0].link == expected


@pytest.mark.parametrize(
    ("channel", "ttl"),
    [
        ("<ttl>60</ttl>", 3600),
        ("<ttl>0</ttl>", None),
        ("<ttl>soon</ttl>", None),
        ("<sy:updatePeriod xmlns:sy='http://purl.org/rss/1.0/modules/syndication/'>hourly"
         "</sy:updatePeriod>", 3600),
        ("<sy:updatePeriod xmlns:sy='http://purl.org/rss/1.0/modules/syndication/'>weekly"
         "</sy:updatePeriod><sy:updateFrequency xmlns:sy='http://purl.org/rss/1.0/modules/"
         "syndication/'>7</sy:updateFrequency>", 86_400),
        ("", None),
    ],
)  # fmt: skip
def test_ttl_hints(channel: str, ttl: int | None) -> None:
    body = rss("<item><title>t</title></item>", channel=f"<title>x</title>{channel}")
    assert parse_feed(body, url=URL).ttl_seconds == ttl


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"<?xml version='1.0'?><!DOCTYPE rss><rss/>", b"<?xml version='1.0'?><rss/>"),
        (b"<!-- c --><!doctype rss [ <!ENTITY a 'x'> ]>\n<rss/>", b"<!-- c -->\n<rss/>"),
        (b"<!DOCTYPE rss [ <!ENTITY a ']>'> ]><rss>&a;</rss>", b"<rss>&a;</rss>"),
        (b"<rss><!DOCTYPE x></rss>", b"<rss><!DOCTYPE x></rss>"),  # only the prolog's
        (b"<!DOCTYPE rss [ <!ENTITY a 'never closed'", b""),
        (b"<rss/>", b"<rss/>"),
    ],
)
def test_strip_doctype(data: bytes, expected: bytes) -> None:
    assert strip_doctype(data) == expected
