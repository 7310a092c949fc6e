"""`monitor once` against hostile and misbehaving feeds beside a good one.

Every hostile feed ends with a clear status in `monitor feeds`, the process survives with
bounded memory, and the good feed in the same run still alerts.
"""

from __future__ import annotations

import gzip
import resource
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import RULES, SECRET, rss, run_monitor
from tests.e2e.servers import Receiver
from tests.fetch.server import Server, drip, endless, serving

pytestmark = pytest.mark.e2e


ULTIMATUM = (
    "fuel-ultimatum",
    "Transporters give government 72-hour ultimatum over fuel prices",
    "The transport union said it would halt goods traffic nationwide unless prices were cut.",
)
LAUGHS = (
    "<?xml version='1.0'?><!DOCTYPE rss [<!ENTITY l0 'lol'>"
    + "".join(f"<!ENTITY l{i} '{f'&l{i - 1};' * 10}'>" for i in range(1, 10))
    + "]><rss version='2.0'><channel><title>&l9;</title></channel></rss>"
).encode()
MAX_BYTES = 1024 * 1024


def hostile_routes(server: Server) -> dict[str, str]:
    """Mount the hostile feeds; returns path -> what `monitor feeds` must say about it."""
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)
    routes = {
        "/bomb": (lambda h: h.reply(200, bomb, {"Content-Encoding": "gzip"}), "exceeds"),
        "/endless": (endless, "exceeds"),
        "/drip": (drip, "deadline"),
        "/gone": (lambda h: h.reply(410, b"gone"), "disabled"),
        "/missing": (lambda h: h.reply(404, b"nope"), "404"),
        "/broken": (lambda h: h.reply(500, b"oops"), "500"),
        "/busy": (lambda h: h.reply(429, b"", {"Retry-After": "120"}), "429"),
        "/html": (lambda h: h.reply(200, b"<html><body>hello</body></html>"), "HTML page"),
        # The DOCTYPE is stripped before parsing: nothing expands, the reference is undefined.
        "/laughs": (lambda h: h.reply(200, LAUGHS), "undefined entity"),
        "/garbage": (lambda h: h.reply(200, bytes(range(256)) * 64), "binary data"),
        "/loop": (lambda h: h.reply(302, b"", {"Location": "/loop"}), "redirect"),
    }
    expected = {}
    for path, (handler, says) in routes.items():
        server.routes[path] = handler
        expected[path] = says
    return expected


@pytest.fixture
def hostile() -> Iterator[Server]:
    with serving() as srv:
        yield srv


def write_config(tmp: Path, urls: list[str], hook: str) -> Path:
    feeds = "\n".join(
        f"  - {{name: f{i}, url: '{url}', interval: 10m}}" for i, url in enumerate(urls)
    )
    config = tmp / "monitor.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            state: sqlite:///{tmp}/state.db
            include: ['{RULES}']
            network: {{allow_private: true, timeout: 1s, deadline: 3s, max_bytes: {MAX_BYTES},
                      per_host_gap: 0s}}  # one local server stands for many sites
            webhooks:
              - {{name: receiver, url: '{hook}', secret: '${{NEWS_MONITOR_TEST_SECRET}}'}}
            feeds:
            """
        )
        + feeds
        + "\n"
    )
    return config


def feed_rows(config: Path, cwd: Path) -> dict[str, str]:
    listed = run_monitor("feeds", "-c", str(config), cwd=cwd)
    assert listed.returncode == 0, listed.stderr
    rows = {}
    for line in listed.stdout.splitlines()[1:]:
        name = line[12:36].strip()
        rows[name] = line
    return rows


def test_hostile_feeds_fail_alone_and_the_good_feed_still_alerts(
    tmp_path: Path, hostile: Server
) -> None:
    expected = hostile_routes(hostile)
    hostile.routes["/good"] = lambda h: h.reply(200, rss(ULTIMATUM))
    paths = ["/good", *expected]
    receiver = Receiver(secrets=(SECRET,))
    try:
        config = write_config(tmp_path, [hostile.url(p) for p in paths], receiver.url())
        result = run_monitor("once", "-c", str(config), cwd=tmp_path, timeout=60)
        peak_rss_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        assert [r.payload["data"]["rule"] for r in receiver.received] == ["ultimatum"]
        assert receiver.received[0].payload["data"]["item"]["title"] == ULTIMATUM[1]
        summary = next(x for x in result.stderr.splitlines() if x.startswith("feeds:"))
        assert "feeds: 1 ok, 0 unchanged, 11 failed" in summary
        assert peak_rss_kib < 400 * 1024  # the 64 MiB bomb and the endless body never landed
    finally:
        receiver.close()

    rows = feed_rows(config, tmp_path)
    assert rows["f0"].startswith("ok ")
    for i, (path, says) in enumerate(expected.items(), start=1):
        row = rows[f"f{i}"]
        status = "disabled" if path == "/gone" else "backing off"
        assert row.startswith(status), row
        assert says in row, row


def test_a_feed_moved_permanently_is_followed_after_three_runs(
    tmp_path: Path, hostile: Server
) -> None:
    hostile.routes["/old"] = lambda h: h.reply(301, b"", {"Location": "/new"})
    hostile.routes["/new"] = lambda h: h.reply(200, rss(ULTIMATUM))
    hostile.routes["/temp"] = lambda h: h.reply(307, b"", {"Location": "/new"})
    config = write_config(
        tmp_path, [hostile.url("/old"), hostile.url("/temp")], "http://127.0.0.1:9/hook"
    )
    for run in range(3):
        result = run_monitor("once", "-c", str(config), "--deliver-timeout", "0", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        moved = "feed moved permanently" in result.stderr
        assert moved == (run == 2), result.stderr
    rows = feed_rows(config, tmp_path)
    assert rows["f0"].endswith(hostile.url("/new"))  # the stored URL followed the 301s
    assert rows["f1"].endswith(hostile.url("/temp"))  # a 307 never moves a feed
    before = len(hostile.paths())
    run_monitor("once", "-c", str(config), "--deliver-timeout", "0", cwd=tmp_path)
    assert "/old" not in hostile.paths()[before:]


def test_a_gone_feed_stays_disabled_until_the_operator_enables_it(
    tmp_path: Path, hostile: Server
) -> None:
    hostile.routes["/moved-on"] = lambda h: h.reply(410, b"gone")
    config = write_config(tmp_path, [hostile.url("/moved-on")], "http://127.0.0.1:9/hook")
    run_monitor("once", "-c", str(config), "--deliver-timeout", "0", cwd=tmp_path)
    assert feed_rows(config, tmp_path)["f0"].startswith("disabled")
    before = len(hostile.paths())
    run_monitor("once", "-c", str(config), "--deliver-timeout", "0", cwd=tmp_path)
    assert hostile.paths()[before:] == []  # a disabled feed is not polled

    hostile.routes["/moved-on"] = lambda h: h.reply(200, rss(ULTIMATUM))
    unknown = run_monitor("feeds", "-c", str(config), "enable", "nope", cwd=tmp_path)
    assert unknown.returncode == 2
    assert "no configured feed named 'nope'" in unknown.stderr
    enabled = run_monitor("feeds", "-c", str(config), "enable", "f0", cwd=tmp_path)
    assert enabled.returncode == 0, enabled.stderr
    assert enabled.stdout.strip() == "f0: enabled, due now"
    run_monitor("once", "-c", str(config), "--deliver-timeout", "0", cwd=tmp_path)
    assert feed_rows(config, tmp_path)["f0"].startswith("ok ")
