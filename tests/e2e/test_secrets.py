"""Canary secrets planted in every configurable place never leave the process (issue 18).

Each place a credential can be configured gets a value of its own: feed URL userinfo and
``?token=`` (one set through ``${ENV}``), webhook signing secrets (also through the
environment), a Slack-style webhook whose URL path is the credential and which answers 410,
an Apprise URL with a password, and PostgreSQL passwords in ``state:`` (userinfo for an
unreachable server, ``?password=`` for a reachable one). Then every way out is captured --
command output, logs, what consumers receive, the daemon's ``/status`` and ``/metrics``,
and the errors stored for later display -- and searched for every canary.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import RULES, rss, run_monitor
from tests.e2e.servers import FeedServer, Receiver, free_port, http_get, wait_for

pytestmark = pytest.mark.e2e

FEED_PASSWORD = "CanaryFeedPassword1"
FEED_TOKEN = "CanaryFeedToken2"  # comes from the environment
MISSING_FEED_TOKEN = "CanaryMissingFeedToken3"
SLACK_PATH_TOKEN = "CanarySlackPathToken4"
APPRISE_PASSWORD = "CanaryApprisePassword5"
PG_PASSWORD = "CanaryPgPassword6"  # comes from the environment
PG_QUERY_PASSWORD = "CanaryPgQueryPassword7"
SIGNING_KEY = "CanaryWebhookSigningKey8-0123456789"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(SIGNING_KEY.encode()).decode()  # via ${ENV}
CANARIES = (
    FEED_PASSWORD,
    FEED_TOKEN,
    MISSING_FEED_TOKEN,
    SLACK_PATH_TOKEN,
    APPRISE_PASSWORD,
    PG_PASSWORD,
    PG_QUERY_PASSWORD,
    SIGNING_KEY,
    WEBHOOK_SECRET.removeprefix("whsec_"),
)
ENV = {
    "CANARY_FEED_TOKEN": FEED_TOKEN,
    "CANARY_WEBHOOK_SECRET": WEBHOOK_SECRET,
    "CANARY_PG_PASSWORD": PG_PASSWORD,
}
FEED_PATH = "/wire.xml"
COALITION = (
    "league-quits",
    "Farmers' League quits the ruling coalition",
    "The party said its two ministers would leave the cabinet on Friday.",
)


def assert_no_canary(where: str, text: str) -> None:
    found = [canary for canary in CANARIES if canary in text]
    assert not found, f"{where} leaks {found}:\n{text}"


def feed_url(feeds: FeedServer, token: str, path: str = FEED_PATH) -> str:
    return f"http://reader:{FEED_PASSWORD}@127.0.0.1:{feeds.port}{path}?token={token}&page=1"


def document(state: str, feeds: FeedServer, receiver: Receiver, gone: Receiver) -> dict[str, Any]:
    closed_port = free_port()  # nothing listens there: every Apprise attempt fails
    return {  # JSON is YAML
        "state": state,
        "include": [str(RULES)],
        "network": {"allow_private": True, "timeout": 2, "deadline": 5},
        "feeds": [
            {"name": "wire", "url": feed_url(feeds, "${CANARY_FEED_TOKEN}"), "interval": 1},
            {
                "name": "missing",
                "url": feed_url(feeds, MISSING_FEED_TOKEN, "/missing.xml"),
                "interval": 1,
            },
        ],
        "webhooks": [
            {"name": "json", "url": receiver.url("/json"), "secret": "${CANARY_WEBHOOK_SECRET}"},
            {
                "name": "events",
                "url": receiver.url("/events"),
                "secret": "${CANARY_WEBHOOK_SECRET}",
                "format": "cloudevents",
            },
            {
                "name": "slack",
                "url": gone.url(f"/services/T0000/B0000/{SLACK_PATH_TOKEN}"),
                "format": "slack",
                "retry_schedule": [0],
            },
            {
                "name": "apprise",
                "apprise": f"json://notifier:{APPRISE_PASSWORD}@127.0.0.1:{closed_port}/",
                "timeout": 2,
                "retry_schedule": [0],
            },
        ],
    }


def write(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(json.dumps(config, indent=2))
    return path


def received(receiver: Receiver) -> str:
    return json.dumps([(r.payload, r.headers) for r in receiver.received])


def stored_texts(database: Path) -> str:
    """What the store keeps to show later: errors, disable reasons, alert payloads."""
    with sqlite3.connect(database) as db:
        rows: Iterable[tuple[Any, ...]] = [
            *db.execute("SELECT last_error FROM feeds"),
            *db.execute("SELECT last_error FROM deliveries"),
            *db.execute("SELECT disabled_reason FROM webhook_state"),
            *db.execute("SELECT payload FROM alerts"),
        ]
    return "\n".join(str(value) for row in rows for value in row)


@pytest.fixture
def receivers() -> Iterable[tuple[Receiver, Receiver]]:
    receiver = Receiver(secrets=(WEBHOOK_SECRET,))
    gone = Receiver(secrets=(), behaviour=lambda n: 410)  # a Slack webhook that was removed
    try:
        yield receiver, gone
    finally:
        receiver.close()
        gone.close()


def test_no_canary_leaves_once_or_the_cli(
    tmp_path: Path, feed_server: FeedServer, receivers: tuple[Receiver, Receiver]
) -> None:
    receiver, gone = receivers
    feed_server.documents[f"{FEED_PATH}?token={FEED_TOKEN}&page=1"] = rss(COALITION)
    database = tmp_path / "state.db"
    config = write(
        tmp_path / "monitor.yaml",
        document(f"sqlite:///{database}", feed_server, receiver, gone),
    )
    c = str(config)
    once = run_monitor("once", "-c", c, "--deliver-timeout", "5s", cwd=tmp_path, env=ENV)
    assert once.returncode == 0, once.stderr
    assert {r.headers["content-type"] for r in receiver.received} == {
        "application/json",
        "application/cloudevents+json",
    }
    assert gone.attempts >= 1
    payload = next(r.payload for r in receiver.received if "type" in r.payload)
    alert_id = payload["data"]["alert_id"]
    # The field stays, redacted.
    assert payload["data"]["feed"]["url"] == (
        f"http://127.0.0.1:{feed_server.port}{FEED_PATH}?token=***&page=1"
    )
    outputs = {"once": once}
    commands: dict[str, tuple[str, ...]] = {
        "check": ("check", "-c", c),
        "feeds": ("feeds", "-c", c),
        "alerts": ("alerts", "-c", c),
        "alerts dead": ("alerts", "-c", c, "--state", "dead"),
        "alerts show": ("alerts", "-c", c, "show", alert_id),
        "status": ("status", "-c", c),
        "test-rule --url": (
            "test-rule",
            "-c",
            c,
            "coalition-exit",
            "--url",
            feed_url(feed_server, MISSING_FEED_TOKEN, "/missing.xml"),
        ),
        "test-rule --since": ("test-rule", "-c", c, "coalition-exit", "--since", "7d"),
        "feeds export": ("feeds", "-c", c, "export"),
    }
    for name, args in commands.items():
        outputs[name] = run_monitor(*args, cwd=tmp_path, env=ENV)
    for name, result in outputs.items():
        assert "Traceback" not in result.stderr, result.stderr
        assert_no_canary(f"`monitor {name}` stdout", result.stdout)
        assert_no_canary(f"`monitor {name}` stderr", result.stderr)
    # The failures the secrets could have been in did happen, and were shown.
    assert "HTTP 404" in outputs["feeds"].stdout
    assert "disabled" in outputs["status"].stdout
    assert "410 Gone" in outputs["alerts"].stdout
    assert "poll failed" in once.stderr
    assert_no_canary("what consumers received", received(receiver))
    assert_no_canary("the store's errors and payloads", stored_texts(database))


@pytest.mark.parametrize(
    "command",
    [("check",), ("once",), ("feeds",), ("alerts",), ("status",), ("run",)],
    ids=lambda args: args[0],
)
def test_no_canary_when_the_database_is_unreachable(
    tmp_path: Path,
    feed_server: FeedServer,
    receivers: tuple[Receiver, Receiver],
    command: tuple[str, ...],
) -> None:
    receiver, gone = receivers
    state = "postgresql+psycopg://monitor:${CANARY_PG_PASSWORD}@127.0.0.1:1/news"
    config = write(tmp_path / "monitor.yaml", document(state, feed_server, receiver, gone))
    result = run_monitor(*command, "-c", str(config), cwd=tmp_path, env=ENV)
    assert result.returncode == (0 if command == ("check",) else 1), result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert_no_canary(f"`monitor {command[0]}` stdout", result.stdout)
    assert_no_canary(f"`monitor {command[0]}` stderr", result.stderr)
    assert "127.0.0.1:1/news" in result.stdout + result.stderr  # the state is still named


def test_no_canary_leaves_the_daemon(
    tmp_path: Path,
    feed_server: FeedServer,
    receivers: tuple[Receiver, Receiver],
    pg_url: str,
) -> None:
    receiver, gone = receivers
    feed_server.documents[f"{FEED_PATH}?token={FEED_TOKEN}&page=1"] = rss(COALITION)
    port = free_port()
    config = document(f"{pg_url}?password={PG_QUERY_PASSWORD}", feed_server, receiver, gone)
    config["server"] = {"listen": f"127.0.0.1:{port}"}
    path = write(tmp_path / "monitor.yaml", config)
    log_path = tmp_path / "daemon.log"
    with log_path.open("w") as log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "-c", str(path)],
            cwd=tmp_path,
            stdout=log,
            stderr=log,
            env={**os.environ, **ENV},
        )
    try:
        wait_for(lambda: len(receiver.received) >= 2, "both signed deliveries")
        wait_for(lambda: "webhook disabled" in log_path.read_text(), "the 410 to disable slack")
        wait_for(lambda: "poll failed" in log_path.read_text(), "the missing feed's failure")
        wait_for(lambda: "apprise" in http_get(f"http://127.0.0.1:{port}/metrics")[1], "metrics")
        served = {
            name: http_get(f"http://127.0.0.1:{port}/{name}") for name in ("status", "metrics")
        }
        shown = {
            name: run_monitor(name, "-c", str(path), cwd=tmp_path, env=ENV)
            for name in ("status", "feeds", "alerts")
        }
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=15)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
    for name, (status, body) in served.items():
        assert status == 200
        assert_no_canary(f"/{name}", body)
    for name, result in shown.items():
        assert result.returncode == 0, result.stderr
        assert_no_canary(f"`monitor {name}` stdout", result.stdout)
        assert_no_canary(f"`monitor {name}` stderr", result.stderr)
    logged = log_path.read_text()
    assert '"started"' in logged
    assert_no_canary("the daemon's log", logged)
    assert_no_canary("what consumers received", received(receiver))
