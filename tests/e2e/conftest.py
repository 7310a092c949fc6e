"""Fixtures for end-to-end runs of the real ``monitor`` command against local servers."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.servers import FeedServer

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "config" / "rules" / "default.yaml"
SECRET = "whsec_dGVzdC1zZWNyZXQtZm9yLW5ld3MtbW9uaXRvcg=="
OLD_SECRET = "whsec_b2xkLXNlY3JldC1zdGlsbC1hY2NlcHRlZC1oZXJl"


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer()
    try:
        yield server
    finally:
        server.close()


def run_monitor(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "NEWS_MONITOR_TEST_SECRET": SECRET, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def rss(*items: tuple[str, str, str], title: str = "Test wire") -> bytes:
    """An RSS 2.0 document; each item is (guid, title, description)."""
    body = "".join(
        f"<item><guid isPermaLink='false'>{guid}</guid><title>{t}</title>"
        f"<link>https://news.example/{guid}?utm_source=rss</link>"
        f"<description>{d}</description>"
        f"<pubDate>Tue, 24 Nov 2026 08:00:00 GMT</pubDate></item>"
        for guid, t, d in items
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
        f"<title>{title}</title><link>https://news.example/</link>{body}</channel></rss>"
    ).encode()
