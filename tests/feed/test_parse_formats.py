"""parse_feed over the hand-written sample feeds in tests/fixtures/feeds/: every format and
encoding, compared field by field with what a reader of the feed would expect."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.feed.parse import parse_feed
from monitor.models import Entry, ParsedFeed

FEEDS = Path(__file__).resolve().parent.parent / "fixtures" / "feeds"
URL = "https://feeds.example/path/feed"


def parse(name: str, content_type: str | None = None) -> ParsedFeed:
    return parse_feed((FEEDS / name).read_bytes(), url=URL, content_type=content_type)


def entry(**fields: object) -> Entry:
    base: dict[str, object] = {
        "guid": None, "title": "", "link": "", "summary": "", "content": "",
        "published": None, "authors": (), "categories": (), "lang": "",
    }  # fmt: skip
    return Entry(**{**base, **fields})  # type: ignore[arg-type]


EXPECTED: dict[str, ParsedFeed] = {
    "rss091.xml": ParsedFeed(
        title="Harbour Gazette",
        link="https://gazette.example/",
        lang="en-gb",
        ttl_seconds=45 * 60,
        entries=(
            entry(
                title="Ferry timetable changes for winter",
                link="https://gazette.example/ferry-winter",
                summary="The early crossing moves to 06:40 & the late one is dropped.",
                lang="en-gb",
            ),
            entry(
                title="Lighthouse keeper retires after 40 years",
                link="https://gazette.example/keeper",
                lang="en-gb",
            ),
        ),
    ),
    "rss10.rdf": ParsedFeed(
        title="Valley Courier",
        link="https://valley.example/",
        lang="de",
        ttl_seconds=86_400 // 4,
        entries=(
            entry(
                guid="https://valley.example/a/1",
                title="Neue Brücke über den Fluss eröffnet",
                link="https://valley.example/a/1",
                summary="Nach zwei Jahren Bauzeit ist die Brücke frei.",
                published=datetime(2024, 3, 5, 6, 30, tzinfo=UTC),
                authors=("Anna Berger",),
                categories=("Verkehr",),
                lang="de",
            ),
        ),
    ),
    "rss20_content.xml": ParsedFeed(
        title="The Orchard & Field Report",
        link="https://feeds.example/",  # relative channel link, resolved against the feed URL
        lang="en-us",
        warnings=("dropped 1 empty entries",),  # the nested <item/> phantom
        entries=(
            entry(
                guid="orchard-2024-0917",
                title="Apple harvest beats forecasts",
                link="https://feeds.example/2024/09/apple-harvest",
                summary="Growers report a record year.",
                content="A record year\n"
                "Growers across the county picked 12% more fruit than in 2023.\n"
                "Gala: up\nFuji: steady\n"
                "Prices fell slightly — see the table.",
                published=datetime(2024, 9, 17, 18, 5, tzinfo=UTC),
                authors=("Sam Reyes",),
                categories=("Crops", "Weather"),
                lang="en-us",
            ),
            entry(
                guid="https://orchard.example/frost",
                title="Frost warning for the weekend",
                link="https://orchard.example/frost",
                summary="Cover young trees.",
                lang="en-us",  # and published None: "not a date at all"
            ),
        ),
    ),
    "atom_xmlbase.xml": ParsedFeed(
        title="Montagne & Cie",
        link="https://montagne.example/blog/",
        lang="fr",
        entries=(
            entry(
                guid="tag:montagne.example,2024:refuge",
                title="Refuge du col rouvert",
                link="https://montagne.example/blog/2024/refuge-col",
                summary="Le refuge accueille à nouveau les randonneurs.",
                content="Après deux hivers de travaux,\nle refuge est ouvert.\n"
                "Réservation conseillée.",
                published=datetime(2024, 6, 2, 7, 0, tzinfo=UTC),  # updated, no published
                authors=("Léa Martin",),
                categories=("refuges",),
                lang="fr",
            ),
            entry(
                guid="tag:montagne.example,2024:race",
                title="Trail race results",
                link="https://autre.example/news/results.html",  # entry-level xml:base
                summary="Winners & times",
                published=datetime(2024, 5, 30, 18, 0, tzinfo=UTC),  # published beats updated
                lang="en",
            ),
        ),
    ),
    "jsonfeed10.json": ParsedFeed(
        title="Night Sky Notes",
        link="https://sky.example/",
        warnings=("dropped 2 empty or malformed items",),
        entries=(
            entry(
                guid="1042",
                title="Meteor shower peaks tonight",
                link="https://feeds.example/2024/meteor-shower",
                content="Look north-east after midnight.",
                published=datetime(2024, 8, 12, 19, 0, tzinfo=UTC),
                authors=("Ida Kowalski",),  # the 1.0 feed-level author
                categories=("meteors", "events"),
            ),
            entry(
                guid="comet-note",
                link="https://elsewhere.example/comet",
                content="A faint comet is visible with binoculars.\nBest before dawn.",
                published=datetime(2024, 8, 10, 4, 0, tzinfo=UTC),
                authors=("Ida Kowalski",),
            ),
        ),
    ),
    "jsonfeed11.json": ParsedFeed(
        title="Rail & Road",
        link="https://transit.example/",
        lang="nl",
        entries=(
            entry(
                guid="tr-77",
                title="Night trains return",
                link="https://transit.example/77",
                summary="Three routes restart in December.",
                content="Amsterdam–Vienna first.",
                published=datetime(2024, 11, 4, 11, 0, 0, 500_000, tzinfo=UTC),
                authors=("J. de Vries", "https://transit.example/staff/k"),
                categories=("rail",),
                lang="en",
            ),
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_feed(name: str) -> None:
    assert parse(name) == EXPECTED[name]


ENCODED = {
    "latin1.xml": ("Café du Marché", "Über die Brücke: façade & crème brûlée", ""),
    "undeclared_latin1.xml": ("Noticias do Interior", "Eleição: votação começa às 8h", "1252"),
    "windows1251.xml": ("Новости Севера", "Мост через реку открыт «сегодня»", ""),
    "utf16_bom.xml": ("Ελληνικά νέα", "Καλημέρα κόσμε 日本語", ""),
}


@pytest.mark.parametrize("name", sorted(ENCODED))
@pytest.mark.parametrize("content_type", [None, "application/rss+xml", "text/xml"])
def test_encodings_without_mojibake(name: str, content_type: str | None) -> None:
    feed_title, item_title, warning = ENCODED[name]
    feed = parse(name, content_type)
    assert (feed.title, feed.entries[0].title) == (feed_title, item_title)
    assert warning in "".join(feed.warnings)
    assert bool(warning) == bool(feed.warnings)


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        # The HTTP charset wins over the declaration when it fits the bytes (RFC 3023)...
        ("windows1251.xml", "text/xml; charset=windows-1251"),
        ("latin1.xml", "application/xml; charset=ISO-8859-1"),
        # ...but not when the body says otherwise: a BOM, or valid UTF-8 under a
        # single-byte default charset.
        ("utf16_bom.xml", "text/xml; charset=iso-8859-1"),
        ("atom_xmlbase.xml", "text/xml; charset=ISO-8859-1"),
        ("atom_xmlbase.xml", "application/atom+xml; charset=windows-1252"),
        ("rss10.rdf", "application/rdf+xml; charset=nonsense-charset"),
    ],
)
def test_http_charset_is_used_unless_the_body_proves_it_wrong(name: str, content_type: str) -> None:
    assert parse(name, content_type).entries == parse(name).entries


def test_json_feed_detected_by_content_type_even_without_leading_brace() -> None:
    body = b"\n\n" + (FEEDS / "jsonfeed11.json").read_bytes()
    via_type = parse_feed(body, url=URL, content_type="application/feed+json")
    assert via_type == EXPECTED["jsonfeed11.json"]


def test_parse_feed_can_be_sent_to_a_process_pool() -> None:
    assert pickle.loads(pickle.dumps(parse_feed)) is parse_feed
