"""Benchmark: webhook delivery from a real SQLite outbox to a fast local consumer.

Run ``.venv/bin/python bench/deliver.py`` (``--quick`` for a short run). A separate process
(its own GIL) receives on 127.0.0.1: a minimal asyncio HTTP/1.1 keep-alive server that
answers 204 at once and records when each webhook-id first arrived. Three scenarios, in one
run, each on a fresh store:

* sender, burst:  N alerts (default 10,000) committed with ``Store.record_polls``, all
                  created at t0, then delivered by the real ``Sender`` (lanes, leases,
                  breaker, signatures, group-committed outcomes) until none is due. The
                  latency from creation is then mostly queueing: the last alert waits for
                  the N-1 before it, so p99 ~ N / throughput;
* naive, burst:   the same N payloads, sequential signed ``httpx`` POSTs, one at a time,
                  no outbox writes at all: the baseline;
* sender, steady: alerts created at a fixed rate below capacity (``--rate``, default
                  800/s) in small commits, each waking the daemon's delivery tick (as a
                  poll that creates alerts does), plus its 1 s tick: the latency an alert
                  sees when the daemon keeps up.

Printed: deliveries/s, p50/p99 latency from alert creation to receipt (receiver clock; same
host), CPU time of this (sending) process per delivery while it delivers (all its threads;
the steady figure includes committing the alerts) and its system part (socket calls; in
the sender also the GIL passing between the outbox's threads and the sends), the load
average, and the sender/naive ratio. Targets: >= 1,000 deliveries/s (burst) and p99 <
100 ms (steady). Exits 1 if one is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from monitor import log
from monitor.config import Config
from monitor.documents.payload import alert_payload
from monitor.documents.render import render
from monitor.documents.sign import signature_headers
from monitor.models import Alert, FeedSpec, FeedUpdate, FieldHit, Item, NewAlert, PollRecord
from monitor.runtime.compose import open_app
from monitor.runtime.daemon import Daemon
from monitor.store import Store

FEED = "http://127.0.0.1:9/feed"
HOOK = "bench"
SECRET = "whsec_dGVzdC1zZWNyZXQtZm9yLW5ld3MtbW9uaXRvcg=="
TARGET_RATE = 1000.0  # deliveries/s, burst
TARGET_P99 = 0.100  # seconds, steady state
STEADY_COMMIT_EVERY = 0.02  # seconds between the steady scenario's alert commits


# --- the receiver: its own process ---------------------------------------------------------


async def _serve(port_out: Connection) -> None:
    first_seen: dict[str, float] = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length, webhook_id, path = 0, "", ""
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    name = name.strip().lower()
                    if name == "content-length":
                        length = int(value)
                    elif name == "webhook-id":
                        webhook_id = value.strip()
                if length:
                    await reader.readexactly(length)
                if path == "/stats":
                    body = json.dumps(first_seen).encode()
                    first_seen.clear()
                    writer.write(
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                        + f"content-length: {len(body)}\r\n\r\n".encode()
                        + body
                    )
                else:
                    first_seen.setdefault(webhook_id, time.time())
                    writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    port_out.send(server.sockets[0].getsockname()[1])
    await server.serve_forever()


def _receiver_main(port_out: Connection) -> None:
    asyncio.run(_serve(port_out))


class Receiver:
    """The consumer process; ``receipts()`` returns and forgets {webhook-id: first seen}."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        self.process = ctx.Process(target=_receiver_main, args=(child,), daemon=True)
        self.process.start()
        self.port = int(parent.recv())
        self.url = f"http://127.0.0.1:{self.port}/hook"

    def receipts(self) -> dict[str, float]:
        response = httpx.get(f"http://127.0.0.1:{self.port}/stats", timeout=30)
        return {key: float(value) for key, value in response.json().items()}

    def close(self) -> None:
        self.process.terminate()
        self.process.join()


# --- the outbox ----------------------------------------------------------------------------


def new_alerts(count: int, start: int, now: float) -> tuple[list[Item], list[NewAlert]]:
    items, alerts = [], []
    created = datetime.fromtimestamp(now, UTC)
    for n in range(start, start + count):
        item = Item(
            key=f"i{n}",
            story_key=f"url:news.test/{n}",
            feed="wire",
            feed_url=FEED,
            title=f"Union {n} gives 48-hour ultimatum to the ministry over pay",
            link=f"https://news.test/story/{n}",
            summary="The union said its members would strike from Monday. " * 4,
            content="",
            published=created,
            lang="en",
        )
        alert = Alert(
            id=f"msg_bench{n:07d}",
            rule="ultimatum",
            item=item,
            hits=(FieldHit("title", f"Union {n} gives 48-hour **ultimatum**", ("ultimatum",)),),
            created_at=created,
        )
        items.append(item)
        alerts.append(NewAlert(alert.id, "ultimatum", item, alert_payload(alert), (HOOK,), now))
    return items, alerts


def commit_alerts(store: Store, count: int, start: int) -> float:
    """Commit ``count`` alerts created now, in one poll transaction; returns their time."""
    now = time.time()
    items, alerts = new_alerts(count, start, now)
    update = FeedUpdate("ok", now, now + 600, 600, 0, True)
    store.record_polls([PollRecord(FEED, update, items, alerts, now)])
    return now


def bench_config(state: str, receiver: Receiver, concurrency: int) -> Config:
    return Config.model_validate(
        {
            "state": state,
            "feeds": [{"name": "wire", "url": FEED}],
            "network": {"allow_private": True},
            "webhooks": [
                {"name": HOOK, "url": receiver.url, "secret": SECRET, "concurrency": concurrency}
            ],
        }
    )


def fresh_store(tmp: Path, name: str) -> str:
    state = f"sqlite:///{tmp / name}.db"
    store = Store(state)
    store.sync_feeds([FeedSpec(FEED, "wire", 600)], time.time())
    store.close()
    return state


# --- scenarios -----------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    delivered: int
    seconds: float
    latencies: list[float]
    cpu: tuple[float, float]  # this process's CPU seconds (all threads): (total, system)

    @property
    def rate(self) -> float:
        return self.delivered / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(int(p / 100 * len(ordered)), len(ordered) - 1)]

    def line(self) -> str:
        return (
            f"{self.name:<16} {self.delivered:>7,} in {self.seconds:6.2f}s  "
            f"{self.rate:8,.0f}/s  p50 {self.percentile(50) * 1000:7.1f} ms  "
            f"p99 {self.percentile(99) * 1000:7.1f} ms  "
            f"cpu {self.cpu[0] / max(self.delivered, 1) * 1000:5.2f} ms/delivery "
            f"(system {self.cpu[1] / max(self.delivered, 1) * 1000:4.2f})"
        )


def cpu_now() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime, usage.ru_stime


def cpu_since(start: tuple[float, float]) -> tuple[float, float]:
    """(total, system) CPU seconds since ``start``: system time shows thread hand-offs."""
    now = cpu_now()
    return now[0] - start[0], now[1] - start[1]


def latencies(receipts: dict[str, float], created: dict[str, float]) -> list[float]:
    return [receipts[alert_id] - at for alert_id, at in created.items() if alert_id in receipts]


def sender_burst(tmp: Path, receiver: Receiver, count: int, concurrency: int) -> Result:
    state = fresh_store(tmp, "burst")
    created: dict[str, float] = {}
    cpu = (0.0, 0.0)

    async def run() -> float:
        nonlocal cpu
        async with open_app(bench_config(state, receiver, concurrency)) as app:
            at = await asyncio.to_thread(commit_alerts, app.store, count, 0)
            created.update({f"msg_bench{n:07d}": at for n in range(count)})
            started, cpu_started = time.time(), cpu_now()
            while await due(app.store):
                await app.sender.deliver_due()
            cpu = cpu_since(cpu_started)
            return time.time() - started

    seconds = asyncio.run(run())
    receipts = receiver.receipts()
    return Result("sender, burst", len(receipts), seconds, latencies(receipts, created), cpu)


async def due(store: Store) -> bool:
    return bool(await asyncio.to_thread(store.due_webhooks, time.time()))


def naive_burst(tmp: Path, receiver: Receiver, count: int) -> Result:
    """Sequential signed POSTs of the same payloads: no outbox, no concurrency."""
    _items, alerts = new_alerts(count, 0, time.time())
    at = time.time()
    created = {alert.id: at for alert in alerts}
    cpu = (0.0, 0.0)

    async def run() -> float:
        nonlocal cpu
        async with httpx.AsyncClient() as client:
            started, cpu_started = time.time(), cpu_now()
            for alert in alerts:
                content_type, body = render("json", alert.payload)
                sent = datetime.now(UTC)
                headers = {
                    "content-type": content_type,
                    "webhook-id": alert.id,
                    "webhook-timestamp": str(int(sent.timestamp())),
                    **signature_headers(alert.id, sent, body, (SECRET,)),
                }
                response = await client.post(receiver.url, content=body, headers=headers)
                response.raise_for_status()
            cpu = cpu_since(cpu_started)
            return time.time() - started

    seconds = asyncio.run(run())
    receipts = receiver.receipts()
    return Result("naive, burst", len(receipts), seconds, latencies(receipts, created), cpu)


def sender_steady(
    tmp: Path, receiver: Receiver, count: int, rate: float, concurrency: int
) -> Result:
    """Alerts committed at ``rate``/s, each commit waking the daemon's delivery tick."""
    state = fresh_store(tmp, "steady")
    per_commit = max(int(rate * STEADY_COMMIT_EVERY), 1)
    created: dict[str, float] = {}
    cpu = (0.0, 0.0)

    async def run() -> float:
        nonlocal cpu
        async with open_app(bench_config(state, receiver, concurrency)) as app:
            daemon = Daemon(app, tmp / "monitor.yaml")
            ticker = asyncio.create_task(tick_every_second(daemon.deliver_tick))
            started, cpu_started = time.time(), cpu_now()
            made = 0
            while made < count:
                batch = min(per_commit, count - made)
                at = await asyncio.to_thread(commit_alerts, app.store, batch, made)
                created.update({f"msg_bench{n:07d}": at for n in range(made, made + batch)})
                made += batch
                await daemon.deliver_tick()  # what a poll that created alerts does
                await asyncio.sleep(max(started + made / rate - time.time(), 0))
            while await due(app.store) or daemon.rounds:
                await asyncio.sleep(0.05)
            ticker.cancel()
            cpu = cpu_since(cpu_started)
            return time.time() - started

    seconds = asyncio.run(run())
    receipts = receiver.receipts()
    name = f"sender, {rate:g}/s"
    return Result(name, len(receipts), seconds, latencies(receipts, created), cpu)


async def tick_every_second(tick: Callable[[], Any]) -> None:
    while True:
        await asyncio.sleep(1.0)
        await tick()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=800.0, help="steady scenario, alerts/s")
    parser.add_argument("--steady-seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=10, help="the webhook's setting")
    parser.add_argument("--quick", action="store_true", help="2,000 alerts, 4 s steady")
    args = parser.parse_args()
    if args.quick:
        args.alerts, args.steady_seconds = 2000, 4.0
    log.configure("error", json_output=True)
    load_before = os.getloadavg()
    receiver = Receiver()
    try:
        with tempfile.TemporaryDirectory() as tmp_dir:
            tmp = Path(tmp_dir)
            sender = sender_burst(tmp, receiver, args.alerts, args.concurrency)
            naive = naive_burst(tmp, receiver, args.alerts)
            steady_count = int(args.rate * args.steady_seconds)
            steady = sender_steady(tmp, receiver, steady_count, args.rate, args.concurrency)
    finally:
        receiver.close()
    cpus = os.cpu_count()
    print(f"deliveries to a local consumer (separate process), {cpus} CPUs, SQLite outbox")
    loads = ", ".join(
        f"{before:.2f} -> {after:.2f}"
        for before, after in zip(load_before, os.getloadavg(), strict=True)
    )
    print(f"load average (1, 5, 15 min) before -> after: {loads}")
    for result in (sender, naive, steady):
        print(result.line())
    print(f"ratio sender/naive (burst throughput): {sender.rate / naive.rate:.2f}x")
    missed = []
    if sender.delivered < args.alerts or steady.delivered < steady_count:
        missed.append("not every alert arrived")
    if sender.rate < TARGET_RATE:
        missed.append(f"burst {sender.rate:,.0f}/s < {TARGET_RATE:,.0f}/s")
    if steady.percentile(99) >= TARGET_P99:
        missed.append(f"steady p99 {steady.percentile(99) * 1000:.0f} ms >= 100 ms")
    for miss in missed:
        print(f"MISSED: {miss}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
