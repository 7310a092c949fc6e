"""``monitor run``: APScheduler ticks, the store decides what is due.

Two interval jobs tick every second: one claims due feeds (with a lease) and starts their
polls, the other sends due deliveries; a poll that creates alerts wakes the delivery job at
once. A third job watches the config files for changes. SIGHUP reloads, SIGTERM and SIGINT
stop gracefully: in-flight fetches are cancelled (their feeds stay due), in-flight deliveries
get ``SHUTDOWN_GRACE`` seconds, and every lease this instance holds is given back.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import multiprocessing
import signal
import sys
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_SUBMITTED,
    JobEvent,
)
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from monitor import __version__, log
from monitor.config import Config, load_config, parse_listen, routing_from_config
from monitor.core.routing import cron_fields
from monitor.documents.payload import DIGEST_LIMIT, digest_document
from monitor.errors import ConfigError, StoreError
from monitor.models import FeedState, PollOutcome
from monitor.redact import redact_url
from monitor.runtime import metrics
from monitor.runtime.compose import App, open_app
from monitor.runtime.httpserver import Response, get_only, serve

logger = log.get("monitor.runtime.daemon")

TICK = 1.0
SHUTDOWN_GRACE = 8.0  # of the 10 s an orchestrator gives before SIGKILL
RELOAD_CHECK = 2.0
DIGEST_SWEEP = 30.0  # seals ended throttle windows, and digests a missed cron left behind
STATUS_EVERY = 10.0
GAUGES_EVERY = 15.0  # the feeds-by-status and outbox gauges (GROUP BY counts)
STALE_BEATS = 3  # heartbeats an instance may miss before others take its work over
_JOB_STARTS = EVENT_JOB_SUBMITTED
_JOB_ENDS = EVENT_JOB_EXECUTED | EVENT_JOB_ERROR


async def _load_in_own_process(path: Path) -> Config:
    """``load_config`` in a process of its own (a reload's; the daemon's first load is done
    before its event loop starts).

    Loading 10,000 rules takes ~2 s of CPU and leaves ~120,000 objects in reference cycles
    (PyYAML's loader). In the daemon's process, even in a thread, the cyclic collector's
    passes over them held the GIL, so the event loop, for 100-350 ms at a time, and what
    they held stayed until a pass came. Here the daemon only unpickles the config (~20 ms).
    """
    loader = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    try:
        return await asyncio.get_running_loop().run_in_executor(loader, load_config, path)
    finally:
        await asyncio.to_thread(loader.shutdown)  # joins the process: not on the loop


def _mtimes(paths: tuple[Path, ...]) -> dict[Path, float]:
    out = {}
    for path in paths:
        with contextlib.suppress(OSError):
            out[path] = path.stat().st_mtime
    return out


class Daemon:
    def __init__(self, app: App, config_path: Path) -> None:
        self.app = app
        self.clock = app.clock  # the process's one clock, from the composition root
        self.config_path = config_path
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self.stopping = asyncio.Event()
        self.last_beat = self.clock.monotonic()  # of this instance's last heartbeat written
        app.sender.stalled = self.heartbeat_overdue
        self.polls: set[asyncio.Task[PollOutcome]] = set()
        self.backlog = False  # the last claim was full: more feeds are due
        # Delivery rounds run beside each other: a round skips webhooks whose lane is still
        # busy in an earlier one, so a slow consumer's batch never delays a healthy one.
        self.rounds: set[asyncio.Task[None]] = set()
        self.running_jobs = 0  # scheduler jobs running now (shutdown waits for them)
        self.jobs_idle = asyncio.Event()
        self.mtimes = _mtimes(app.config.sources)
        self.started = self.clock.wall()
        self.totals = {"polls": 0, "poll_errors": 0, "alerts": 0, "delivered": 0}

    # -- jobs ------------------------------------------------------------------------------

    async def poll_tick(self) -> None:
        capacity = self.app.config.network.concurrency * 2 - len(self.polls)
        if capacity <= 0 or self.stopping.is_set():
            return
        states = await asyncio.to_thread(
            self.app.store.claim_due_feeds,
            self.clock.wall(),
            owner=self.app.owner,
            lease=self.app.poller.lease,
            limit=capacity,
        )
        # A full claim means more feeds are due: claim again as soon as room frees up,
        # not a whole tick later, so throughput is bounded by work, not by the tick.
        self.backlog = len(states) == capacity
        for state in states:
            task = asyncio.create_task(self._poll(state))
            self.polls.add(task)
            task.add_done_callback(self.polls.discard)

    async def _poll(self, state: FeedState) -> PollOutcome:
        outcome = await self.app.poller.poll(state)
        metrics.observe_poll(outcome)
        self.totals["polls"] += 1
        self.totals["poll_errors"] += outcome.result == "error"
        self.totals["alerts"] += len(outcome.alerts)
        if outcome.alerts:
            self.wake_delivery()
        if self.backlog and len(self.polls) <= self.app.config.network.concurrency:
            self.backlog = False
            job = self.scheduler.get_job("poll")
            if job is not None and not self.stopping.is_set():
                job.modify(next_run_time=datetime.now(self.scheduler.timezone))
        return outcome

    def wake_delivery(self) -> None:
        job = self.scheduler.get_job("deliver")
        if job is not None and not self.stopping.is_set():
            job.modify(next_run_time=datetime.now(self.scheduler.timezone))

    async def deliver_tick(self) -> None:
        """Start a round and return: the tick never waits, so a wake is never skipped."""
        if self.stopping.is_set():
            return
        task = asyncio.create_task(self._deliver_round())
        self.rounds.add(task)
        task.add_done_callback(self._round_done)

    def _round_done(self, task: asyncio.Task[None]) -> None:
        self.rounds.discard(task)
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            logger.error("delivery round failed", error=f"{error.__class__.__name__}: {error}")

    async def _deliver_round(self) -> None:
        for outcome in await self.app.sender.deliver_due():
            metrics.observe_delivery(outcome)
            self.totals["delivered"] += outcome.result == "delivered"

    async def update_gauges(self) -> None:
        """Feeds by status and the outbox by state: counted on a timer of their own, since
        their cost grows with the number of feeds and deliveries (never per round)."""
        outbox = await asyncio.to_thread(self.app.store.delivery_counts)
        statuses = await asyncio.to_thread(self.app.store.feed_status_counts)
        metrics.set_states(outbox, statuses)

    async def seal_digests(self) -> None:
        """Seal the digests whose window has ended (idempotent; any instance may run it)."""
        sealed = await asyncio.to_thread(
            self.app.store.seal_due_digests,
            self.clock.wall(),
            digest_document,
            listed=DIGEST_LIMIT,
        )
        if sealed:
            logger.info("digests sealed", count=len(sealed))
            self.wake_delivery()

    def schedule_digests(self) -> None:
        """A cron job per digest webhook, at its windows' end (UTC); redone on reload."""
        for job in self.scheduler.get_jobs():
            if job.id.startswith("digest:"):
                job.remove()
        every: dict[str, Any] = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
        for name, schedule in routing_from_config(self.app.config).digests.items():
            trigger = CronTrigger(timezone="UTC", **cron_fields(schedule))
            self.scheduler.add_job(self.seal_digests, trigger, id=f"digest:{name}", **every)

    async def heartbeat(self) -> None:
        cluster = self.app.config.cluster
        now = self.clock.wall()
        await asyncio.to_thread(self.app.store.heartbeat, self.app.owner, __version__, now)
        self.last_beat = self.clock.monotonic()
        taken = await asyncio.to_thread(
            self.app.store.take_over_stale, now, silent_for=cluster.heartbeat * STALE_BEATS
        )
        for owner in taken:
            logger.warning(
                "instance stopped beating: its feeds and deliveries are due again", instance=owner
            )

    def heartbeat_overdue(self) -> bool:
        """A beat late by more than one interval: this process stood still (a pause, a
        stopped VM), and others take its work over once it misses ``STALE_BEATS``."""
        overdue = (STALE_BEATS - 1) * self.app.config.cluster.heartbeat
        return self.clock.monotonic() - self.last_beat > overdue

    async def show_status(self) -> None:
        """On a terminal, a compact line every few seconds instead of a silent wait."""
        outbox = await asyncio.to_thread(self.app.store.delivery_counts)
        t = self.totals
        print(
            f"\r[news-monitor] feeds {len(self.app.config.feeds)} · polls {t['polls']} "
            f"({t['poll_errors']} failed) · alerts {t['alerts']} · delivered {t['delivered']} "
            f"· pending {outbox.get('pending', 0) + outbox.get('failed', 0)} "
            f"· dead {outbox.get('dead', 0)}",
            file=sys.stderr,
            flush=True,
        )

    async def prune(self) -> None:
        now = self.clock.wall()
        retention = self.app.config.retention
        emptied, forgotten = await asyncio.to_thread(
            self.app.store.prune,
            content_before=now - retention.content,
            keys_before=now - retention.keys,
        )
        if emptied or forgotten:
            logger.info("pruned", items_emptied=emptied, items_forgotten=forgotten)

    async def reload_check(self) -> None:
        current = _mtimes(self.app.config.sources)
        if current != self.mtimes:
            self.mtimes = current
            await self.reload("config file changed")

    async def reload(self, reason: str) -> None:
        try:
            config = await _load_in_own_process(self.config_path)
        except ConfigError as exc:
            logger.error("reload refused: config invalid, keeping the running one", error=str(exc))
            return
        log.hide(config.secret_values())
        await self.app.reconfigure(config)
        self.schedule_digests()
        self.mtimes = _mtimes(config.sources)
        logger.info(
            "config reloaded", reason=reason, feeds=len(config.feeds), rules=len(config.rules)
        )

    # -- HTTP ------------------------------------------------------------------------------

    async def healthz(self) -> Response:
        return 200, "text/plain", b"ok\n"

    async def readyz(self) -> Response:
        unwritable = await asyncio.to_thread(self.app.store.check_writable)
        ready = unwritable is None and self.scheduler.running and not self.stopping.is_set()
        state: dict[str, Any] = {
            "store": unwritable is None,
            "scheduler": self.scheduler.running,
            "config": True,
        }
        if unwritable is not None:
            state["reason"] = unwritable
        body = json.dumps(state)
        return (200 if ready else 503), "application/json", body.encode() + b"\n"

    async def metrics_route(self) -> Response:
        return 200, "text/plain; version=0.0.4; charset=utf-8", metrics.render()

    async def status(self) -> Response:
        body = {
            "instance": self.app.owner,
            "uptime": round(self.clock.wall() - self.started),
            "feeds": len(self.app.config.feeds),
            "polls_in_flight": len(self.polls),
            "store_queries": self.app.store.queries,
            **self.totals,
        }
        return 200, "application/json", json.dumps(body).encode() + b"\n"

    # -- lifecycle -------------------------------------------------------------------------

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.stopping.set)
        loop.add_signal_handler(signal.SIGINT, self.stopping.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload("SIGHUP")))
        host, port = parse_listen(self.app.config.server.listen)
        server = await serve(
            host,
            port,
            {
                "/healthz": get_only(self.healthz),
                "/readyz": get_only(self.readyz),
                "/metrics": get_only(self.metrics_route),
                "/status": get_only(self.status),
            },
        )
        every: dict[str, Any] = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
        now = datetime.now(self.scheduler.timezone)
        self.scheduler.add_job(
            self.poll_tick, "interval", seconds=TICK, id="poll", next_run_time=now, **every
        )
        self.scheduler.add_job(
            self.deliver_tick, "interval", seconds=TICK, id="deliver", next_run_time=now, **every
        )
        self.scheduler.add_job(
            self.reload_check, "interval", seconds=RELOAD_CHECK, id="reload", **every
        )
        self.scheduler.add_job(
            self.prune, "interval", hours=1, id="prune", next_run_time=now, **every
        )
        self.scheduler.add_job(
            self.heartbeat,
            "interval",
            seconds=self.app.config.cluster.heartbeat,
            id="heartbeat",
            next_run_time=now,
            **every,
        )
        self.scheduler.add_job(
            self.update_gauges,
            "interval",
            seconds=GAUGES_EVERY,
            id="gauges",
            next_run_time=now,
            **every,
        )
        self.scheduler.add_job(
            self.seal_digests,
            "interval",
            seconds=DIGEST_SWEEP,
            id="digest-sweep",
            next_run_time=now,
            **every,
        )
        self.schedule_digests()
        if sys.stderr.isatty():
            self.scheduler.add_job(self.show_status, "interval", seconds=STATUS_EVERY, **every)
        self.scheduler.add_listener(self._count_jobs, _JOB_STARTS | _JOB_ENDS)
        # What starting made (modules, the config, the store) lives as long as the process:
        # keep it out of the cyclic collector's full passes, which scanned it all, holding
        # the GIL (so the event loop) for 100-200 ms whenever allocations triggered one.
        gc.freeze()
        self.scheduler.start()
        logger.info(
            "started",
            feeds=len(self.app.config.feeds),
            rules=len(self.app.config.rules),
            listen=f"{host}:{port}",
            state=redact_url(self.app.config.state),
        )
        try:
            await self.stopping.wait()
        finally:
            await self.shutdown(server)

    def _count_jobs(self, event: JobEvent) -> None:
        self.running_jobs += 1 if event.code & _JOB_STARTS else -1
        if self.running_jobs:
            self.jobs_idle.clear()
        else:
            self.jobs_idle.set()

    async def shutdown(self, server: asyncio.Server) -> None:
        logger.info("stopping")
        self.stopping.set()
        self.app.sender.stop()
        # APScheduler's shutdown cancels running jobs and logs each as a crash: stop new
        # runs, let the running ones (all short: delivery rounds run outside the jobs) end.
        self.scheduler.pause()
        # One grace period for everything below, so the whole stop stays within the bound.
        deadline = self.clock.monotonic() + SHUTDOWN_GRACE
        if self.running_jobs:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.jobs_idle.wait(), SHUTDOWN_GRACE)
        self.scheduler.shutdown(wait=False)
        for task in self.polls:
            task.cancel()
        await asyncio.gather(*self.polls, return_exceptions=True)
        if self.rounds:
            remaining = max(deadline - self.clock.monotonic(), 0.1)
            _done, late = await asyncio.wait(self.rounds, timeout=remaining)
            for unfinished in late:
                unfinished.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        try:
            await asyncio.to_thread(self.app.store.leave, self.app.owner)
        except StoreError as exc:  # the leases then simply expire
            logger.error("could not release leases on stop", error=str(exc).splitlines()[0])
        server.close()
        await server.wait_closed()
        logger.info("stopped")
        sys.stderr.flush()


async def run_daemon(config_path: Path, config: Config) -> int:
    async with open_app(config, long_running=True) as app:
        await Daemon(app, config_path).serve()
    return 0
