"""kill -9 the daemon at random moments while a slow consumer receives; nothing is lost.

Proves the outbox's promise end to end: after every restart each expected alert still
arrives (at least once), a webhook-id always carries the same alert, and no story is
alerted twice on a rule.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.store import Store
from tests.e2e.conftest import SECRET, rss
from tests.e2e.servers import FeedServer, Receiver, free_port

pytestmark = pytest.mark.e2e


SEED = 20240501
KILLS = 4
CONSUMER_DELAY = 0.2  # seconds per request, one at a time
# From the last restart until every alert has arrived: a cold start (~1 s of CPU for
# imports, up to ~5 s on a loaded 2-core machine), one tick, then the whole backlog at the
# consumer's pace, twice over for re-sends. Dead instances' leases are taken back at once,
# so no lease expiry is waited for.
DEADLINE = 10.0 + 1.0 + 2 * (KILLS + 1) * 4 * CONSUMER_DELAY
IN_FLIGHT = 1.5  # how long the consumer holds the request that SIGTERM interrupts


def slow_ok(attempt: int) -> int:
    time.sleep(CONSUMER_DELAY)
    return 204


def held(attempt: int) -> int:
    time.sleep(IN_FLIGHT)
    return 204


def wave(number: int) -> list[tuple[str, str, str]]:
    """Six items: four match the rule, two do not."""
    return [
        (f"w{number}-{i}", f"Union {number}-{i} gives 48-hour ultimatum to ministry", "Strike.")
        for i in range(4)
    ] + [(f"w{number}-q{i}", f"Quiet day {number}-{i} at the port", "Nothing.") for i in range(2)]


def write_config(tmp: Path, feed_url: str, hook_url: str) -> Path:
    config = tmp / "monitor.yaml"
    config.write_text(
        f"state: sqlite:///{tmp}/state.db\n"
        f"server: {{listen: '127.0.0.1:{free_port()}'}}\n"
        "network: {allow_private: true}\n"
        "feeds:\n"
        f"  - {{name: wire, url: '{feed_url}', interval: 1s, min_interval: 1s}}\n"
        "rules:\n"
        "  - {name: ultimatum, query: ultimatum}\n"
        "webhooks:\n"
        f"  - {{name: slow, url: '{hook_url}', secret: '{SECRET}', concurrency: 1, timeout: 2s}}\n"
    )
    return config


def start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "monitor", "--log-level", "warning", "run", "-c", str(config)],
            stdout=out,
            stderr=out,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_kill_9_at_random_moments_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    feeds = FeedServer()
    receiver = Receiver(secrets=(SECRET,), behaviour=slow_ok)
    items = wave(0)
    feeds.documents["/wire.xml"] = rss(*items)
    config = write_config(tmp_path, feeds.url("/wire.xml"), receiver.url())
    log = tmp_path / "daemon.log"
    proc = start(config, log)
    try:
        for kill in range(KILLS):
            # Kill while the consumer is receiving: after this run's first request, at random.
            seen = receiver.attempts
            assert wait_for(lambda: receiver.attempts > seen, 15), log.read_text()[-2000:]  # noqa: B023
            time.sleep(rng.uniform(0, 3 * CONSUMER_DELAY))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            items += wave(kill + 1)  # news keeps coming while it is down
            feeds.documents["/wire.xml"] = rss(*items)
            proc = start(config, log)
        last_start = time.monotonic()
        expected = {f"guid:{guid}" for guid, title, _ in items if "ultimatum" in title}

        def arrived() -> set[str]:
            return {r.payload["data"]["item"]["id"] for r in receiver.received}

        assert wait_for(
            lambda: arrived() >= expected, DEADLINE - (time.monotonic() - last_start)
        ), f"missing {sorted(expected - arrived())}\n{log.read_text()[-3000:]}"
        # Before the final SIGTERM: shutdown noise is not what this test is about.
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        feeds.close()
        receiver.close()

    assert receiver.rejected == []
    payloads: dict[str, dict[str, object]] = {}
    for delivery in receiver.received:
        # A re-send after a kill carries the same webhook-id AND the same alert.
        assert payloads.setdefault(delivery.webhook_id, delivery.payload) == delivery.payload
    stories = [payload["data"]["item"]["id"] for payload in payloads.values()]  # type: ignore[index]
    assert sorted(stories) == sorted(expected)  # one webhook-id per story: none made twice


def test_sigterm_during_a_delivery_stops_cleanly(tmp_path: Path) -> None:
    feeds = FeedServer()
    receiver = Receiver(secrets=(SECRET,), behaviour=held)
    feeds.documents["/wire.xml"] = rss(*wave(0))
    config = write_config(tmp_path, feeds.url("/wire.xml"), receiver.url())
    log = tmp_path / "daemon.log"
    proc = start(config, log)
    try:
        assert wait_for(lambda: receiver.attempts > 0, 15), log.read_text()[-2000:]
        proc.terminate()
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        feeds.close()
        receiver.close()
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
    # The send in flight finished within the grace; the rest of its batch was given back
    # untried, with no lease left behind.
    assert len(receiver.received) == 1
    store = Store(f"sqlite:///{tmp_path}/state.db")
    try:
        records = store.list_deliveries()
        assert store.lease_owners() == set()
    finally:
        store.close()
    assert (
        sorted((r.state, r.attempts) for r in records) == [("delivered", 1)] + [("pending", 0)] * 3
    )
