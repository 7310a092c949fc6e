"""`monitor run` end to end: ticks, delivery, endpoints, hot reload, graceful stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import RULES, SECRET, rss, run_monitor
from tests.e2e.servers import FeedServer, Receiver, free_port, http_get, wait_for

pytestmark = pytest.mark.e2e


COALITION = (
    "league-quits",
    "Farmers' League quits the ruling coalition",
    "The party said its two ministers would leave the cabinet on Friday.",
)
ULTIMATUM = (
    "traders-ultimatum",
    "Traders give city council a 24-hour ultimatum over market fees",
    "Shops will stay shut from Monday unless the fee rise is withdrawn, the association said.",
)
SPLIT = (
    "bloc-splits",
    "Independent bloc splits from governing alliance",
    "Its six members will sit on the opposition benches.",
)


class Daemon:
    def __init__(self, tmp: Path, feeds: FeedServer, receiver: Receiver) -> None:
        self.tmp = tmp
        self.feeds = feeds
        self.receiver = receiver
        self.port = free_port()
        self.config = tmp / "monitor.yaml"
        self.log = (tmp / "daemon.log").open("w+")
        self.process: subprocess.Popen[bytes] | None = None

    def write_config(self, paths: list[str], extra: dict[str, Any] | None = None) -> None:
        document = {
            "state": f"sqlite:///{self.tmp}/state.db",
            "include": [str(RULES)],
            "server": {"listen": f"127.0.0.1:{self.port}"},
            "network": {"allow_private": True},
            "feeds": [{"url": self.feeds.url(p), "interval": 1, "min_interval": 1} for p in paths],
            "webhooks": [{"name": "r", "url": self.receiver.url(), "secret": SECRET}],
            **(extra or {}),
        }
        # Written whole and renamed, as editors do, so a reload never sees half a file.
        scratch = self.tmp / "monitor.yaml.tmp"
        scratch.write_text(json.dumps(document))
        scratch.replace(self.config)

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "-c", str(self.config)],
            cwd=self.tmp,
            stdout=self.log,
            stderr=self.log,
            env={**os.environ},
        )
        wait_for(lambda: self.get("/readyz")[0] == 200, what="/readyz")

    def get(self, path: str) -> tuple[int, str]:
        return http_get(f"http://127.0.0.1:{self.port}{path}")

    def logged(self) -> list[dict[str, Any]]:
        self.log.flush()
        lines = Path(self.log.name).read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=15)


@pytest.fixture
def daemon(tmp_path: Path, feed_server: FeedServer) -> Iterator[Daemon]:
    receiver = Receiver(secrets=(SECRET,))
    d = Daemon(tmp_path, feed_server, receiver)
    try:
        yield d
    finally:
        if d.process and d.process.poll() is None:
            d.process.kill()
            d.process.wait()
        d.log.close()
        receiver.close()


def rules_received(receiver: Receiver) -> list[tuple[str, str]]:
    return sorted(
        (r.payload["data"]["rule"], r.payload["data"]["item"]["title"]) for r in receiver.received
    )


def test_daemon_polls_delivers_serves_metrics_reloads_and_stops(daemon: Daemon) -> None:
    feeds, receiver = daemon.feeds, daemon.receiver
    feeds.documents["/a.xml"] = rss(COALITION)
    feeds.documents["/b.xml"] = rss(ULTIMATUM)
    feeds.documents["/c.xml"] = rss(SPLIT)
    daemon.write_config(["/a.xml"])
    daemon.start()
    wait_for(lambda: len(receiver.received) == 1, what="first alert")
    assert rules_received(receiver) == [("coalition-exit", COALITION[1])]

    assert daemon.get("/healthz") == (200, "ok\n")
    ready = json.loads(daemon.get("/readyz")[1])
    assert ready == {"store": True, "scheduler": True, "config": True}
    # The feed is polled again every second; ETags make those polls 304s.
    wait_for(lambda: feeds.not_modified >= 2, what="conditional re-polls")
    metrics = daemon.get("/metrics")[1]
    assert 'monitor_polls_total{result="ok"} 1.0' in metrics
    assert 'monitor_polls_total{result="not_modified"}' in metrics
    assert 'monitor_alerts_total{rule="coalition-exit"} 1.0' in metrics
    assert 'monitor_deliveries_total{result="delivered",webhook="r"} 1.0' in metrics
    assert "monitor_delivery_latency_seconds_count 1.0" in metrics
    # The gauges come from GROUP BY counts on a timer of their own: the one feed is counted.
    gauge = [line for line in metrics.splitlines() if line.startswith("monitor_feeds{")]
    assert sum(float(line.rsplit(" ", 1)[1]) for line in gauge) == 1.0

    # A changed config file is picked up without a restart.
    daemon.write_config(["/a.xml", "/b.xml"])
    wait_for(lambda: len(receiver.received) == 2, what="alert from the added feed")
    assert ("ultimatum", ULTIMATUM[1]) in rules_received(receiver)

    # An invalid config is refused; the running one goes on.
    daemon.write_config(["/a.xml", "/b.xml"], extra={"feedz": []})
    wait_for(
        lambda: any(e["event"].startswith("reload refused") for e in daemon.logged()),
        what="reload refusal",
    )
    refusal = next(e for e in daemon.logged() if e["event"].startswith("reload refused"))
    assert "feedz: unknown key" in refusal["error"]
    assert daemon.get("/healthz")[0] == 200

    # SIGHUP reloads too.
    daemon.write_config(["/a.xml", "/b.xml", "/c.xml"])
    assert daemon.process is not None
    daemon.process.send_signal(signal.SIGHUP)
    wait_for(lambda: len(receiver.received) == 3, what="alert after SIGHUP")

    assert daemon.stop() == 0
    events = [e["event"] for e in daemon.logged()]
    assert events[-1] == "stopped"
    assert len(receiver.received) == 3
    assert len(set(receiver.ids())) == 3


def test_daemon_restart_keeps_state(daemon: Daemon) -> None:
    daemon.feeds.documents["/a.xml"] = rss(COALITION)
    daemon.write_config(["/a.xml"])
    daemon.start()
    wait_for(lambda: len(daemon.receiver.received) == 1, what="first alert")
    status = run_monitor("status", "-c", str(daemon.config), cwd=daemon.tmp)
    assert status.returncode == 0, status.stderr
    assert "daemon:   running as" in status.stdout
    assert "feeds:    1 (1 ok)" in status.stdout
    assert daemon.stop() == 0
    stopped = run_monitor("status", "-c", str(daemon.config), cwd=daemon.tmp).stdout
    assert "daemon:   not reachable" in stopped
    assert "outbox:   0 pending, 0 failed, 0 dead, 1 delivered" in stopped
    daemon.feeds.documents["/a.xml"] = rss(COALITION, ULTIMATUM)
    daemon.start()
    wait_for(lambda: len(daemon.receiver.received) == 2, what="alert after restart")
    time.sleep(1.5)  # a few more ticks: nothing is delivered twice
    assert daemon.stop() == 0
    assert len(daemon.receiver.received) == 2
    assert rules_received(daemon.receiver) == [
        ("coalition-exit", COALITION[1]),
        ("ultimatum", ULTIMATUM[1]),
    ]
