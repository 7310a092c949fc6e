"""`monitor once` end to end: real feed server, real receiver, real SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from tests.e2e.conftest import OLD_SECRET, RULES, SECRET, rss, run_monitor
from tests.e2e.servers import FeedServer, Receiver, free_port

pytestmark = pytest.mark.e2e


PARTNER_MAY_LEAVE = (
    "partner-weighs-exit",
    "Coalition partner weighs its future in government",
    "The leader of the Sindh Unity Front told a rally on Sunday that his party might soon "
    "separate from the ruling coalition, and that a final decision was close. We are not "
    "issuing threats or ultimatums, he said, calling it a matter of principle.",
)
UNRELATED = [
    ("cricket-squad", "Cricket board names squad for home series", "Two uncapped bowlers are in."),
    ("frisbee", "Ultimate Frisbee league adds two city teams", "The season starts in March."),
    ("exit-poll", "Exit polls put the ruling coalition ahead", "Counting begins on Monday."),
]
NEW_ULTIMATUM = (
    "fuel-ultimatum",
    "Transporters give government 72-hour ultimatum over fuel prices",
    "The transport union said it would halt goods traffic nationwide unless prices were cut.",
)


def write_config(tmp: Path, feeds: FeedServer, hook_url: str, paths: list[str]) -> Path:
    config = tmp / "monitor.yaml"
    document = {  # JSON is YAML
        "state": f"sqlite:///{tmp}/state.db",
        "include": [str(RULES)],
        "network": {"allow_private": True},
        "feeds": [
            {"name": f"wire{i}", "url": feeds.url(p), "interval": "1m"} for i, p in enumerate(paths)
        ],
        "webhooks": [
            {
                "name": "receiver",
                "url": hook_url,
                "secret": ["${NEWS_MONITOR_TEST_SECRET}", OLD_SECRET],
            }
        ],
    }
    config.write_text(json.dumps(document, indent=2))
    return config


def summary(result: object) -> str:
    stderr = str(getattr(result, "stderr", ""))
    return next(line for line in stderr.splitlines() if line.startswith("feeds:"))


def test_once_delivers_exactly_the_expected_alerts_once(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    feed_server.documents["/pk.xml"] = rss(PARTNER_MAY_LEAVE, *UNRELATED)
    # A second feed carries the same story (same link, other tracking parameters).
    feed_server.documents["/wire.xml"] = rss(PARTNER_MAY_LEAVE)
    receiver = Receiver(secrets=(SECRET, OLD_SECRET))
    try:
        config = write_config(tmp_path, feed_server, receiver.url(), ["/pk.xml", "/wire.xml"])
        first = run_monitor("once", "-c", str(config), cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        assert "Traceback" not in first.stderr
        assert receiver.rejected == []
        rules = sorted(r.payload["data"]["rule"] for r in receiver.received)
        assert rules == ["coalition-exit", "ultimatum"]
        assert len(set(receiver.ids())) == 2
        schema = json.loads(Path("monitor/documents/schema/alert.v1.json").read_text())
        for delivery in receiver.received:
            jsonschema.validate(delivery.payload, schema)
            item = delivery.payload["data"]["item"]
            assert item["title"] == PARTNER_MAY_LEAVE[1]
            assert item["link"].startswith("https://news.example/partner-weighs-exit")
            assert delivery.payload["data"]["matches"]
            # Both rotated secrets sign: one v1 entry each.
            assert len(delivery.headers["webhook-signature"].split()) == 2
        assert "alerts created: 2" in summary(first)
        assert "delivered: 2" in summary(first)

        second = run_monitor("once", "-c", str(config), cwd=tmp_path)
        assert second.returncode == 0, second.stderr
        assert len(receiver.received) == 2
        assert "0 ok, 2 unchanged" in summary(second)
        assert "alerts created: 0" in summary(second)

        feed_server.documents["/pk.xml"] = rss(PARTNER_MAY_LEAVE, *UNRELATED, NEW_ULTIMATUM)
        third = run_monitor("once", "-c", str(config), cwd=tmp_path)
        assert third.returncode == 0, third.stderr
        assert len(receiver.received) == 3
        newest = receiver.received[-1].payload["data"]
        assert (newest["rule"], newest["item"]["title"]) == ("ultimatum", NEW_ULTIMATUM[1])
        assert "new items: 1" in summary(third)
    finally:
        receiver.close()


def test_alerts_wait_for_a_down_receiver_and_keep_their_webhook_id(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    feed_server.documents["/pk.xml"] = rss(PARTNER_MAY_LEAVE)
    port = free_port()
    config = write_config(tmp_path, feed_server, f"http://127.0.0.1:{port}/hook", ["/pk.xml"])
    down = run_monitor("once", "-c", str(config), "--deliver-timeout", "0", cwd=tmp_path)
    assert down.returncode == 0, down.stderr
    assert "delivered: 0; still pending: 2" in summary(down)
    listed = run_monitor("alerts", "-c", str(config), cwd=tmp_path)
    pending_ids = sorted(
        line.split()[0] for line in listed.stdout.splitlines() if line.startswith("msg_")
    )
    assert len(pending_ids) == 2
    assert "failed" in listed.stdout
    assert "ConnectError" in listed.stdout

    receiver = Receiver(secrets=(SECRET,), port=port)
    try:
        # The retry falls due 5 s (+-20 % jitter) after the first attempt.
        up = run_monitor("once", "-c", str(config), "--deliver-timeout", "10", cwd=tmp_path)
        assert up.returncode == 0, up.stderr
        assert sorted(receiver.ids()) == pending_ids
        assert "alerts created: 0" in summary(up)
        assert "still pending: 0" in summary(up)
    finally:
        receiver.close()


def test_without_webhooks_alerts_are_printed_as_json_lines(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    feed_server.documents["/pk.xml"] = rss(PARTNER_MAY_LEAVE, *UNRELATED)
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f"state: sqlite:///{tmp_path}/s.db\ninclude: ['{RULES}']\n"
        f"network: {{allow_private: true}}\nfeeds:\n  - url: '{feed_server.url('/pk.xml')}'\n"
    )
    result = run_monitor("once", "-c", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(p["data"]["rule"] for p in lines) == ["coalition-exit", "ultimatum"]


def test_a_broken_feed_fails_alone(tmp_path: Path, feed_server: FeedServer) -> None:
    feed_server.documents["/pk.xml"] = rss(PARTNER_MAY_LEAVE)
    feed_server.documents["/broken.xml"] = b"<html><body>Not a feed</body></html>"
    receiver = Receiver(secrets=(SECRET,))
    try:
        config = write_config(
            tmp_path, feed_server, receiver.url(), ["/broken.xml", "/missing.xml", "/pk.xml"]
        )
        result = run_monitor("once", "-c", str(config), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        assert "1 ok, 0 unchanged, 2 failed" in summary(result)
        assert len(receiver.received) == 2
        feeds = run_monitor("feeds", "-c", str(config), cwd=tmp_path).stdout
        assert "backing off" in feeds
        assert "404" in feeds
    finally:
        receiver.close()


def test_config_errors_exit_2_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("feeds:\n  - url: https://a.example/\n    intervall: 5m\n")
    for command in ("check", "once", "run"):
        result = run_monitor(command, "-c", str(config), cwd=tmp_path)
        assert result.returncode == 2
        assert result.stderr.strip() == f"error: {config}:3: feeds[0].intervall: unknown key"
