"""Three `monitor run` instances share one PostgreSQL store; one is SIGKILLed halfway.

Proves: no feed is ever polled by two instances at once, every feed is polled about once
per interval across the cluster, the killed instance's feeds are taken over within the
lease bound, every expected alert arrives, and no webhook-id is delivered for two alerts.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import RULES, SECRET, rss, run_monitor
from tests.e2e.servers import LocalServer, Receiver, free_port

pytestmark = pytest.mark.e2e

FEEDS = 300
INTERVAL = 6.0  # seconds between polls of one feed (300 feeds: 50 polls/s in all)
LEASE = 6.0  # cluster.lease; a dead instance's feeds are free again after this
TICK = 1.0  # the daemon's poll tick
SERVE_DELAY = 0.02  # each response takes this long, so overlapping polls would show


class ClusterFeeds:
    """Serves FEEDS feeds; records every request's start and end per feed."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: dict[int, list[tuple[str, str, str]]] = {
            n: [(f"f{n}-base", f"Weather outlook for district {n}", "Mild and dry.")]
            for n in range(FEEDS)
        }
        self.requests: dict[int, list[float]] = defaultdict(list)
        self.in_flight: dict[int, int] = defaultdict(int)
        self.overlaps: list[int] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                n = int(self.path.strip("/").split(".")[0])
                with owner.lock:
                    owner.requests[n].append(time.monotonic())
                    owner.in_flight[n] += 1
                    if owner.in_flight[n] > 1:
                        owner.overlaps.append(n)
                    body = rss(*owner.items[n])
                try:
                    time.sleep(SERVE_DELAY)
                    etag = f'"{hash(body) & 0xFFFFFFFF:x}"'
                    if self.headers.get("if-none-match") == etag:
                        self.send_response(304)
                        self.end_headers()
                        return
                    self.send_response(200)
                    self.send_header("etag", etag)
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                finally:
                    with owner.lock:
                        owner.in_flight[n] -= 1

        self.server = LocalServer(Handler)

    def add(self, n: int, item: tuple[str, str, str]) -> None:
        with self.lock:
            self.items[n] = [item, *self.items[n]][:5]


def start_instance(config: Path, tmp: Path, index: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NM_LISTEN": f"127.0.0.1:{free_port()}"}
    with (tmp / f"instance{index}.log").open("wb") as log:  # the child keeps its own copy
        return subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "-c", str(config)],
            cwd=tmp,
            stdout=log,
            stderr=log,
            env=env,
        )


def test_three_instances_share_the_work_and_survive_a_sigkill(tmp_path: Path, pg_url: str) -> None:
    feeds = ClusterFeeds()
    receiver = Receiver(secrets=(SECRET,))
    config = tmp_path / "cluster.yaml"
    config.write_text(
        json.dumps(
            {
                "state": pg_url,
                "include": [str(RULES)],
                "server": {"listen": "${NM_LISTEN}"},
                # One local server stands for 300 sites: no per-host gap.
                "network": {
                    "allow_private": True,
                    "timeout": 1,
                    "deadline": 1,
                    "per_host_gap": 0,
                },
                "cluster": {"lease": LEASE, "heartbeat": 1},
                "feeds": [
                    {"url": feeds.server.url(f"/{n}.xml"), "interval": INTERVAL, "min_interval": 1}
                    for n in range(FEEDS)
                ],
                "webhooks": [{"name": "r", "url": receiver.url(), "secret": SECRET}],
            }
        )
    )
    rng = random.Random(7)
    expected: set[str] = set()
    processes = [start_instance(config, tmp_path, i) for i in range(3)]
    try:
        started = time.monotonic()
        killed_at = None
        for wave in range(7):
            time.sleep(3.0)
            for n in rng.sample(range(FEEDS), 20):
                story = f"w{wave}-f{n}"
                feeds.add(n, (story, f"Party {story} quits the ruling coalition", "It is final."))
                expected.add(story)
            if wave == 3:
                processes[1].send_signal(signal.SIGKILL)
                processes[1].wait()
                killed_at = time.monotonic()
        assert killed_at is not None
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            stories = {r.payload["data"]["item"]["id"].split(":", 1)[1] for r in receiver.received}
            if expected <= stories:
                break
            time.sleep(0.5)
        ended = time.monotonic()

        status = run_monitor(
            "status", "-c", str(config), cwd=tmp_path, env={"NM_LISTEN": "127.0.0.1:1"}
        )
        assert status.returncode == 0, status.stderr
        assert status.stdout.count("instance: ") >= 2
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        exits = [p.wait(timeout=20) for p in processes]
        receiver.close()
        feeds.server.close()

    assert exits[0] == 0
    assert exits[2] == 0
    assert exits[1] == -signal.SIGKILL
    # Never two polls of one feed at once.
    assert feeds.overlaps == []
    # Every expected alert arrived; a webhook-id always means one alert; one alert per story.
    by_id: dict[str, str] = {}
    for r in receiver.received:
        body = json.dumps(r.payload, sort_keys=True)
        assert by_id.setdefault(r.webhook_id, body) == body
    stories = [r.payload["data"]["item"]["id"] for r in receiver.received]
    assert {s.split(":", 1)[1] for s in stories} == expected
    alert_ids = {r.webhook_id for r in receiver.received}
    assert len(alert_ids) == len(expected)
    assert receiver.rejected == []
    # About once per interval across the cluster, in the steady window after start-up:
    # never more often (jitter is 10 %), and no feed waits longer than an interval plus a
    # tick, except the dead instance's: those wait at most two leases more (the takeover).
    window_start, window_end = started + 2 * INTERVAL, ended
    normal_gap = INTERVAL * 1.1 + TICK + 1.0  # + 1 s for a loaded 2-core machine
    bound = normal_gap + 2 * LEASE
    late_feeds = 0
    for n in range(FEEDS):
        polls = [t for t in feeds.requests[n] if window_start <= t <= window_end]
        assert len(polls) <= (window_end - window_start) / (0.9 * INTERVAL - 0.5) + 1, n
        times = [window_start, *polls, window_end]
        gap = max(b - a for a, b in itertools.pairwise(times))
        assert gap <= bound, (n, gap)
        late_feeds += gap > normal_gap
    # Only feeds the killed instance held can have waited for the takeover.
    assert late_feeds <= FEEDS // 2, late_feeds
    assert killed_at < window_end
