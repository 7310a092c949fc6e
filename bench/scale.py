"""Scale-out benchmark: N feeds on a local server, 1 vs 2 vs 3 instances on PostgreSQL,
and one instance on SQLite for reference.

For each setup it starts real `monitor run` processes and measures, from the feed server's
own request log and the instances' /status endpoints:

* first pass: how long until every feed has been polled once (all items new);
* steady state: polls per second while every feed is always due (answers are 304s), i.e.
  the cluster's polling capacity, and the store's SQL statements per poll.

The baseline is the single instance on the same store. This machine has 2 cores, shared by
the feed server, PostgreSQL and the instances, so more than 2 instances cannot add CPU.

    .venv/bin/python bench/scale.py            # 10,000 feeds
    .venv/bin/python bench/scale.py --quick    # 1,000 feeds, shorter windows
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = os.environ.get(
    "NEWS_MONITOR_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ITEMS = 5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def feed_body(n: int) -> bytes:
    items = "".join(
        f"<item><guid>f{n}-{i}</guid><title>District {n} council report {i}</title>"
        f"<link>https://bench.example/{n}/{i}</link><description>Routine business item {i} "
        f"for district {n}: budgets, roads and schools.</description></item>"
        for i in range(ITEMS)
    )
    return (
        f"<?xml version='1.0'?><rss version='2.0'><channel><title>Bench {n}</title>"
        f"<link>https://bench.example/{n}</link>{items}</channel></rss>"
    ).encode()


def serve_feeds(port: int, counter: Any) -> None:
    """The feed server process: every feed answers 304 to its ETag, and counts requests."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            n = int(self.path.strip("/").split(".")[0])
            with counter.get_lock():
                counter.value += 1
            etag = f'"{n}"'
            if self.headers.get("if-none-match") == etag:
                self.send_response(304)
                self.send_header("etag", etag)
                self.send_header("content-length", "0")
                self.end_headers()
                return
            body = feed_body(n)
            self.send_response(200)
            self.send_header("etag", etag)
            self.send_header("content-type", "application/rss+xml")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # clients hanging up at the end of a run are expected

    Server(("127.0.0.1", port), Handler).serve_forever()


def write_config(tmp: Path, state: str, feed_port: int, feeds: int) -> Path:
    config = tmp / "bench.yaml"
    config.write_text(
        json.dumps(
            {
                "state": state,
                "include": [str(ROOT / "config" / "rules" / "default.yaml")],
                "server": {"listen": "${NM_LISTEN}"},
                "network": {
                    "allow_private": True,
                    # One local server stands for 10,000 sites' feeds: no per-host limits.
                    "per_host": 64,
                    "per_host_gap": 0,
                    "concurrency": 64,
                    "timeout": 10,
                    "deadline": 20,
                },
                "cluster": {"lease": 60, "heartbeat": 5},
                # Every feed is due again a second after each poll: the run measures capacity.
                "feeds": [
                    {
                        "url": f"http://127.0.0.1:{feed_port}/{n}.xml",
                        "interval": 1,
                        "min_interval": 1,
                    }
                    for n in range(feeds)
                ],
            }
        )
    )
    return config


def status(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as response:
        body: dict[str, Any] = json.loads(response.read())
        return body


def run_setup(label: str, state: str, instances: int, feeds: int, window: float) -> dict[str, Any]:
    counter = multiprocessing.Value("q", 0)
    feed_port = free_port()
    server = multiprocessing.Process(target=serve_feeds, args=(feed_port, counter), daemon=True)
    server.start()
    time.sleep(0.5)
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        config = write_config(tmp, state, feed_port, feeds)
        ports = [free_port() for _ in range(instances)]
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "monitor", "--log-level", "error", "run", "-c", str(config)],
                cwd=tmp,
                env={**os.environ, "NM_LISTEN": f"127.0.0.1:{port}"},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for port in ports
        ]
        try:
            start = time.monotonic()
            while counter.value < feeds:
                if time.monotonic() - start > 600:
                    raise SystemExit(f"{label}: first pass did not finish")
                time.sleep(0.1)
            first_pass = time.monotonic() - start
            time.sleep(2.0)  # let the first pass's stragglers finish
            before = [status(p) for p in ports]
            count_before, t0 = counter.value, time.monotonic()
            time.sleep(window)
            after = [status(p) for p in ports]
            polls = counter.value - count_before
            elapsed = time.monotonic() - t0
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                proc.wait(timeout=30)
            server.kill()
    queries = sum(
        late["store_queries"] - early["store_queries"]
        for early, late in zip(before, after, strict=True)
    )
    return {
        "setup": label,
        "first_pass_feeds_per_s": feeds / first_pass,
        "steady_feeds_per_s": polls / elapsed,
        "queries_per_poll": queries / max(polls, 1),
    }


def pg_database() -> tuple[str, Any]:
    name = f"nm_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}", (admin, name)


def drop_database(handle: Any) -> None:
    admin, name = handle
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--feeds", type=int)
    args = parser.parse_args()
    feeds = args.feeds or (1000 if args.quick else 10000)
    window = 5.0 if args.quick else 15.0
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        results.append(run_setup("sqlite x1", f"sqlite:///{tmp}/s.db", 1, feeds, window))
    for instances in (1, 2, 3):
        url, handle = pg_database()
        try:
            results.append(run_setup(f"postgresql x{instances}", url, instances, feeds, window))
        finally:
            drop_database(handle)
    base = next(r for r in results if r["setup"] == "postgresql x1")
    print(f"{feeds} feeds, {os.cpu_count()} cores; steady state = every feed always due (304s)")
    print(
        f"{'setup':16} {'first pass/s':>13} {'steady/s':>10} {'vs pg x1':>9} {'queries/poll':>13}"
    )
    for r in results:
        ratio = r["steady_feeds_per_s"] / base["steady_feeds_per_s"]
        print(
            f"{r['setup']:16} {r['first_pass_feeds_per_s']:13.0f} {r['steady_feeds_per_s']:10.0f} "
            f"{ratio:8.2f}x {r['queries_per_poll']:13.1f}"
        )


if __name__ == "__main__":
    main()
