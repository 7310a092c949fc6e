"""A stalled instance wakes up to find its work taken over: it commits none of it again.

Three `monitor run` instances share one PostgreSQL store; a slow webhook consumer keeps
deliveries in flight and a slow feed server keeps polls in flight. The instance holding
delivery leases is SIGSTOPped for longer than three heartbeats (the others take its work
over), then SIGCONTed. Each instance posts to its own path, so the consumer knows who sent
what. Proves: every alert arrives; an alert arrives twice only when its POST was already
under way at the pause (then once from the stalled instance, once from the one that took
over: never a third time, and the woken instance sends nothing another now holds); no
``delivered`` row is flipped back; the woken instance's polls are refused, so no feed's
poll is committed twice (its ``last_polled_at`` never goes back).
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from standardwebhooks import Webhook

from tests.e2e.conftest import RULES, SECRET, rss
from tests.e2e.servers import LocalServer, wait_for
from tests.e2e.test_cluster import start_instance

pytestmark = pytest.mark.e2e

INSTANCES = 3
FEEDS = 12
STORIES = 30
HEARTBEAT = 1.5  # others take an instance over after three missed beats: 4.5 s
STOPPED_FOR = 8.0  # longer than three heartbeats, shorter than any lease
FEED_LEASE = 20.0  # cluster.lease: the stalled instance's feed leases outlive its pause
RECEIVE_DELAY = 0.6  # the consumer answers each POST this late: deliveries are in flight
SERVE_DELAY = 1.0  # the feed server answers this late: polls are in flight
CONCURRENCY = 2  # per instance; its delivery lease (16 per slot, 5 s each) is minutes


class Wire:
    """FEEDS feeds (``/<n>.xml``), served slowly; counts the GETs of each."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: dict[int, list[tuple[str, str, str]]] = {
            n: [(f"f{n}-base", f"Weather outlook for district {n}", "Mild and dry.")]
            for n in range(FEEDS)
        }
        self.gets: Counter[int] = Counter()
        wire = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                n = int(self.path.strip("/").split(".")[0])
                with wire.lock:
                    wire.gets[n] += 1
                    body = rss(*wire.items[n])
                time.sleep(SERVE_DELAY)
                # A poller that gave up (its deadline passed while it stood still) is gone.
                with contextlib.suppress(ConnectionError):
                    self.send_response(200)
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

        self.server = LocalServer(Handler)

    def publish(self, n: int, story: str) -> None:
        with self.lock:
            self.items[n].append((story, f"Party {story} quits the ruling coalition", "Final."))


class SlowConsumer:
    """Verifies each POST's signature, records (webhook-id, sending instance, arrival time),
    and answers 204 after RECEIVE_DELAY. Instance ``i`` posts to ``/hook/<i>``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.arrivals: list[tuple[str, int, float]] = []
        self.in_flight: Counter[int] = Counter()
        self.rejected: list[str] = []
        consumer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                instance = int(self.path.rsplit("/", 1)[1])
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    Webhook(SECRET).verify(body, headers)
                except Exception as exc:  # any verification failure is a rejection
                    consumer.rejected.append(str(exc))
                    self.send_response(401)
                    self.end_headers()
                    return
                with consumer.lock:
                    consumer.arrivals.append((headers["webhook-id"], instance, time.monotonic()))
                    consumer.in_flight[instance] += 1
                try:
                    time.sleep(RECEIVE_DELAY)
                    with contextlib.suppress(ConnectionError):  # a sender that gave up
                        self.send_response(204)
                        self.end_headers()
                finally:
                    with consumer.lock:
                        consumer.in_flight[instance] -= 1

        self.server = LocalServer(Handler)


class LastPolled:
    """Samples every feed's ``last_polled_at`` and notes any that went back in time (a
    stale poll committed over a newer one)."""

    def __init__(self, db: Engine) -> None:
        self.db = db
        self.seen: dict[str, float] = {}
        self.regressions: list[tuple[str, float, float]] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.done.wait(0.1):
            with self.db.connect() as conn:
                found = conn.execute(text("SELECT name, last_polled_at FROM feeds"))
                for name, polled in found:
                    if polled is None:
                        continue
                    if polled < self.seen.get(name, 0.0):
                        self.regressions.append((name, self.seen[name], polled))
                    self.seen[name] = polled

    def stop(self) -> None:
        self.done.set()
        self.thread.join()


def write_config(tmp: Path, index: int, pg_url: str, wire: Wire, consumer: SlowConsumer) -> Path:
    config = tmp / f"instance{index}.yaml"
    config.write_text(
        json.dumps(
            {
                "state": pg_url,
                "include": [str(RULES)],
                "server": {"listen": "${NM_LISTEN}"},
                "network": {"allow_private": True, "timeout": 3, "deadline": 3, "per_host_gap": 0},
                "cluster": {"lease": FEED_LEASE, "heartbeat": HEARTBEAT},
                "feeds": [
                    {
                        "name": f"f{n}",
                        "url": wire.server.url(f"/{n}.xml"),
                        "interval": 2,
                        "min_interval": 1,
                        "max_interval": 2,
                    }
                    for n in range(FEEDS)
                ],
                "webhooks": [
                    {
                        "name": "r",
                        "url": consumer.server.url(f"/hook/{index}"),
                        "secret": SECRET,
                        "timeout": 5,
                        "concurrency": CONCURRENCY,
                    }
                ],
            }
        )
    )
    return config


def leases(db: Engine, table: str, where: str = "") -> Counter[int]:
    """Unexpired leases per holding process id (owner ids are ``host:pid:random``)."""
    with db.connect() as conn:
        found = conn.execute(
            text(
                f"SELECT lease_owner FROM {table} WHERE lease_owner IS NOT NULL "
                f"AND lease_until > extract(epoch from now()) {where}"
            )
        ).scalars()
        return Counter(int(owner.rsplit(":", 2)[1]) for owner in found)


def events(log: Path, event: str) -> list[dict[str, Any]]:
    lines = log.read_text(errors="replace").splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    return [r for r in records if r.get("event") == event]


def test_a_stalled_instance_commits_nothing_twice(tmp_path: Path, pg_url: str) -> None:
    wire, consumer = Wire(), SlowConsumer()
    db = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://"))
    configs = [write_config(tmp_path, i, pg_url, wire, consumer) for i in range(INSTANCES)]
    processes = [start_instance(config, tmp_path, i) for i, config in enumerate(configs)]
    index_of = {process.pid: i for i, process in enumerate(processes)}
    sampler: LastPolled | None = None
    try:
        wait_for(lambda: all(wire.gets[n] for n in range(FEEDS)), "first polls", timeout=30)
        sampler = LastPolled(db)
        for s in range(STORIES):
            wire.publish(s % FEEDS, f"story{s}")

        chosen: list[int] = []

        def victim_found() -> bool:
            """An instance holding deliveries, one POST of them under way, and a feed."""
            held = leases(db, "deliveries", "AND state IN ('pending', 'failed')")
            polling = leases(db, "feeds")
            chosen[:] = [
                pid
                for pid, count in held.items()
                if count >= 4 and consumer.in_flight[index_of[pid]] and polling[pid]
            ]
            return bool(chosen)

        wait_for(victim_found, "an instance holding deliveries in flight", timeout=30)
        victim_pid = chosen[0]
        victim = index_of[victim_pid]
        processes[victim].send_signal(signal.SIGSTOP)
        stopped_at = time.monotonic()
        with db.connect() as conn:
            stale_feeds = set(
                conn.execute(
                    text("SELECT name FROM feeds WHERE lease_owner LIKE :owner"),
                    {"owner": f"%:{victim_pid}:%"},
                ).scalars()
            )
        time.sleep(STOPPED_FOR)
        processes[victim].send_signal(signal.SIGCONT)
        woke_at = time.monotonic()

        def all_delivered() -> bool:
            with db.connect() as conn:
                counts = dict(
                    conn.execute(text("SELECT state, count(*) FROM deliveries GROUP BY state"))
                    .tuples()
                    .all()
                )
            return counts == {"delivered": STORIES}

        wait_for(all_delivered, "every alert delivered", timeout=40)
        # The woken instance's leftovers (sends that were under way, polls) end meanwhile.
        time.sleep(3 * HEARTBEAT)
        assert all_delivered()  # ...and no delivered row was flipped back by them
    finally:
        if sampler is not None:
            sampler.stop()
        for process in processes:
            process.send_signal(signal.SIGCONT)
            process.send_signal(signal.SIGTERM)
        exits = [process.wait(timeout=30) for process in processes]
        consumer.server.close()
        wire.server.close()
        db.dispose()

    assert exits == [0] * INSTANCES
    assert consumer.rejected == []
    by_alert: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for alert_id, instance, at in consumer.arrivals:
        by_alert[alert_id].append((instance, at))
    assert len(by_alert) == STORIES  # every alert arrived
    twice = {alert_id: sends for alert_id, sends in by_alert.items() if len(sends) > 1}
    for alert_id, sends in twice.items():
        # Only a POST under way at the pause goes out again, from whoever took it over.
        assert len(sends) == 2, (alert_id, sends)  # never three times
        (first, first_at), (second, second_at) = sends
        assert (first, first_at < stopped_at) == (victim, True), (alert_id, sends)
        assert second != victim, (alert_id, sends)
        assert second_at > stopped_at, (alert_id, sends)
    # The woken instance sent nothing that another instance had sent already.
    for alert_id, sends in by_alert.items():
        late = [at for instance, at in sends if instance == victim and at > woke_at]
        assert not late or len(sends) == 1, (alert_id, sends)
    assert len(twice) <= CONCURRENCY, twice  # at most one per slot was under way
    # Its polls that were under way at the pause were refused, and said so; none of them
    # overwrote a newer poll. So were its deliveries' outcomes, or it did not send them.
    log = tmp_path / f"instance{victim}.log"
    refused = {e["feed"] for e in events(log, "poll not recorded: the feed was taken over")}
    assert stale_feeds, "the stalled instance held no feed"
    assert stale_feeds <= refused, (stale_feeds, refused)
    assert sampler is not None
    assert sampler.regressions == []
    fenced = events(log, "delivery outcome not recorded: its claim was taken over")
    assert fenced + events(log, "delivery claim lost: not sent")
    others = [tmp_path / f"instance{i}.log" for i in range(INSTANCES) if i != victim]
    took_over = "instance stopped beating: its feeds and deliveries are due again"
    assert any(events(other, took_over) for other in others)
