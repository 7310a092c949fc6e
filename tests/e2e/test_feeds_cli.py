"""`monitor feeds`: the listing, OPML import and export, and discovery from a web page."""

from __future__ import annotations

from pathlib import Path

import listparser
import pytest

from monitor.fetch.discover import FoundFeed, feed_links
from tests.e2e.conftest import rss, run_monitor
from tests.e2e.servers import FeedServer

pytestmark = pytest.mark.e2e


SUBSCRIPTIONS = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0"><head><title>my reader</title></head><body>
  <outline text="News">
    <outline type="rss" text="Wire" title="Wire" xmlUrl="http://127.0.0.1:1/wire.xml"/>
    <outline type="rss" text="Dawn" title="Dawn" xmlUrl="https://dawn.example/feed"/>
    <outline type="rss" text="Dawn again" xmlUrl="https://dawn.example/feed"/>
    <outline type="rss" text="Gopher" xmlUrl="gopher://old.example/1"/>
    <outline type="rss" text="Geo &amp; Co" xmlUrl="https://geo.example/rss?lang=ur"/>
  </outline>
</body></opml>
"""


def write_config(tmp: Path, feeds: list[tuple[str, str]], extra: str = "") -> Path:
    config = tmp / "monitor.yaml"
    lines = "".join(f"  - {{name: '{n}', url: '{u}', interval: 15m}}\n" for n, u in feeds)
    config.write_text(
        f"state: sqlite:///{tmp}/state.db\nnetwork: {{allow_private: true}}\n{extra}feeds:\n{lines}"
    )
    return config


def test_listing_shows_status_times_interval_and_items(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    feed_server.documents["/a.xml"] = rss(("1", "One", "x"), ("2", "Two", "y"))
    config = write_config(
        tmp_path,
        [("alpha", feed_server.url("/a.xml")), ("beta", feed_server.url("/missing.xml"))],
    )
    before = run_monitor("feeds", "-c", str(config), cwd=tmp_path)
    assert before.returncode == 0, before.stderr
    assert [line.split()[0] for line in before.stdout.splitlines()[1:]] == ["new", "new"]
    assert run_monitor("once", "-c", str(config), cwd=tmp_path).returncode == 0
    listed = run_monitor("feeds", "-c", str(config), cwd=tmp_path)
    header, alpha, beta = listed.stdout.splitlines()
    assert header.split() == [
        "STATUS", "NAME", "LAST", "OK", "NEXT", "EVERY", "ITEMS", "LAST", "ERROR", "/", "URL"
    ]  # fmt: skip
    assert alpha.split()[:2] == ["ok", "alpha"]
    assert "s ago" in alpha  # last success
    assert "from now" in alpha  # next poll
    assert " 15m " in alpha  # current interval
    assert alpha.split()[-2:] == ["2", feed_server.url("/a.xml")]  # items seen, URL
    assert beta.startswith("backing off beta")
    assert "never" in beta
    assert beta.endswith(f"HTTP 404 Not Found from {feed_server.url('/missing.xml')}")


def test_opml_import_adds_only_new_http_feeds_and_the_config_accepts_them(
    tmp_path: Path,
) -> None:
    config = write_config(
        tmp_path,
        [("Wire", "http://127.0.0.1:1/wire.xml")],
        extra="include: ['imported.yaml']\n",
    )
    (tmp_path / "imported.yaml").write_text("feeds: []\n")
    opml = tmp_path / "subs.opml"
    opml.write_bytes(SUBSCRIPTIONS)
    result = run_monitor(
        "feeds", "-c", str(config), "import", str(opml), "-o", "imported.yaml", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "2 new feed(s) of 3" in result.stderr
    text = (tmp_path / "imported.yaml").read_text()
    assert "https://dawn.example/feed" in text
    assert "https://geo.example/rss?lang=ur" in text
    assert "gopher" not in text
    assert "wire.xml" not in text  # already configured
    check = run_monitor("check", "-c", str(config), cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert "feeds:    3" in check.stdout
    again = run_monitor("feeds", "-c", str(config), "import", str(opml), cwd=tmp_path)
    assert (again.stdout, again.returncode) == ("", 0)
    assert "0 new feed(s) of 3" in again.stderr


def test_export_round_trips_through_an_opml_reader(tmp_path: Path) -> None:
    feeds = [("Dawn", "https://dawn.example/feed"), ("Geo & Co", "https://geo.example/rss?a=1&b=2")]
    config = write_config(tmp_path, feeds)
    result = run_monitor("feeds", "-c", str(config), "export", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    parsed = listparser.parse(result.stdout.encode())
    assert not parsed.bozo
    assert [(f.title, f.url) for f in parsed.feeds] == feeds


def test_discover_finds_announced_feeds_on_a_page(tmp_path: Path, feed_server: FeedServer) -> None:
    feed_server.documents["/"] = b"""<!doctype html><html><head><title>Site</title>
        <link rel="alternate" type="application/rss+xml" title="Top stories" href="/rss.xml">
        <link rel="alternate" type="application/atom+xml" href="https://site.example/atom">
        <link rel="stylesheet" href="/style.css">
        </head><body><a href="/about">About</a></body></html>"""
    feed_server.documents["/rss.xml"] = rss(("1", "One", "x"), title="Top stories")
    config = write_config(tmp_path, [("x", feed_server.url("/rss.xml"))])
    page = run_monitor("feeds", "-c", str(config), "discover", feed_server.url("/"), cwd=tmp_path)
    assert page.returncode == 0, page.stderr
    assert page.stdout.splitlines() == [
        f"rss    {feed_server.url('/rss.xml')}  Top stories",
        "atom   https://site.example/atom",
    ]
    itself = run_monitor(
        "feeds", "-c", str(config), "discover", feed_server.url("/rss.xml"), cwd=tmp_path
    )
    assert itself.stdout.splitlines() == [f"feed   {feed_server.url('/rss.xml')}  Top stories"]
    nothing = run_monitor(
        "feeds", "-c", str(config), "discover", feed_server.url("/nope"), cwd=tmp_path
    )
    assert nothing.returncode == 2
    assert nothing.stderr.startswith(f"error: {feed_server.url('/nope')}: HTTP 404 Not Found")


def test_pages_without_announced_feeds_fall_back_to_feed_looking_links() -> None:
    html = """<html><head><base href="https://news.example/section/"></head><body>
        <a href="rss">RSS</a> <a href="/world/feed/">World</a> <a href="/about">About</a>
        <a href="javascript:alert(1)">x</a> <a href="/world/feed/">again</a></body></html>"""
    assert feed_links(html, "https://news.example/") == [
        FoundFeed("https://news.example/section/rss", "link?"),
        FoundFeed("https://news.example/world/feed/", "link?"),
    ]
