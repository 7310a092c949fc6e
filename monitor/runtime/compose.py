"""Wiring: build the pipeline's parts from a config, and the two loops every command shares."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TextIO

from monitor.config import Config, routing_from_config
from monitor.core.clock import SYSTEM_CLOCK, Clock
from monitor.deliver.sender import Sender
from monitor.fetch.fetcher import Fetcher
from monitor.models import DeliveryOutcome, PollOutcome
from monitor.net.guard import NetworkPolicy
from monitor.net.useragent import USER_AGENT
from monitor.query import RuleSet, compile_rules
from monitor.runtime.poller import Poller, feed_specs
from monitor.runtime.workers import FeedProcessor, FeedThread, FeedWorkers, rule_specs
from monitor.store import Store

# Fewer feeds than this are parsed faster in-process than worker processes start, or than
# a daemon's one worker process parses them.
WORKERS_MIN_FEEDS = 50


def compile_config_rules(config: Config) -> RuleSet:
    return compile_rules(rule_specs(config))


def instance_id() -> str:
    """Who holds a lease: host, pid and a random part (pids repeat across containers)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def make_fetcher(config: Config, *, clock: Clock = SYSTEM_CLOCK) -> Fetcher:
    net = config.network
    return Fetcher(
        policy=NetworkPolicy(allow_private=net.allow_private, allow_cidrs=net.allow_cidrs),
        user_agent=net.user_agent or USER_AGENT,
        timeout=net.timeout,
        deadline=net.deadline,
        max_bytes=net.max_bytes,
        concurrency=net.concurrency,
        per_host=net.per_host,
        per_host_gap=net.per_host_gap,
        clock=clock,
    )


async def make_processor(config: Config, *, long_running: bool) -> FeedProcessor:
    """Where parse + identify + match (CPU-bound pure Python) run: never on the event loop.

    Worker processes, one per core, when it pays: starting one costs ~0.5 s of CPU;
    bench/poll.py shows where it is won back. A long-running daemon otherwise still gets one
    worker process, paid once, so that no feed holds up its endpoints, deliveries and
    heartbeats (``monitor.runtime.workers`` measures why a thread is not enough); a one-shot
    run otherwise parses in a thread.
    """
    cores = os.cpu_count() or 1
    if cores >= 2 and len(config.feeds) >= WORKERS_MIN_FEEDS:
        return FeedWorkers(cores, rule_specs(config))
    if long_running:
        return FeedWorkers(1, rule_specs(config))
    return FeedThread(await asyncio.to_thread(compile_config_rules, config))


@dataclass
class App:
    config: Config
    store: Store
    poller: Poller
    sender: Sender
    owner: str
    clock: Clock = SYSTEM_CLOCK

    async def poll_all(self) -> list[PollOutcome]:
        """Poll every configured feed now, due or not (``monitor once``)."""
        now = self.clock.wall()
        # All feeds are claimed at once: each may wait for its turn behind all the others.
        turns = len(self.config.feeds) * self.config.network.per_host_gap
        states = await asyncio.to_thread(
            self.store.claim_due_feeds,
            now,
            owner=self.owner,
            lease=self.poller.lease + turns,
            limit=len(self.config.feeds) or 1,
            urls=[f.url for f in self.config.feeds],
        )
        return await self.poller.poll_claimed(states)

    async def reconfigure(self, config: Config) -> None:
        """A reloaded config, handed to every part that holds one."""
        switch_poller = await self.poller.prepare(config)  # rules compiled off the event loop
        await asyncio.to_thread(self.store.sync_feeds, feed_specs(config), self.clock.wall())
        self.config = config
        # Where new alerts go (throttles, digest webhooks) is decided as they are stored.
        self.store.set_routing(routing_from_config(config))
        switch_poller()
        self.sender.reconfigure(config)

    async def drain_deliveries(self, bound: float) -> list[DeliveryOutcome]:
        """Deliver what is due, and retries that fall due within ``bound`` seconds."""
        deadline = self.clock.monotonic() + bound
        outcomes: list[DeliveryOutcome] = []
        while True:
            outcomes.extend(await self.sender.deliver_due())
            next_due = await asyncio.to_thread(self.store.next_delivery_due)
            if next_due is None:
                return outcomes
            wait = max(next_due - self.clock.wall(), 0.05)
            if self.clock.monotonic() + wait > deadline:
                return outcomes
            await asyncio.sleep(wait)


@asynccontextmanager
async def open_app(
    config: Config, *, console: TextIO | None = None, long_running: bool = False
) -> AsyncIterator[App]:
    """The pipeline's parts for ``config``; ``long_running`` for the daemon (``make_processor``)."""
    # The process's one clock and one random source (jitter), handed to every part.
    clock = SYSTEM_CLOCK
    rng = random.Random()
    processor = await make_processor(config, long_running=long_running)
    try:
        store = await asyncio.to_thread(Store, config.state)
        owner = instance_id()
        try:
            await asyncio.to_thread(store.sync_feeds, feed_specs(config), clock.wall())
            store.set_routing(routing_from_config(config))
            fetcher = make_fetcher(config, clock=clock)
            sender = Sender(config, store, owner=owner, console=console, clock=clock, rng=rng)
            try:
                poller = Poller(
                    config, store, fetcher, processor, owner=owner, clock=clock, rng=rng
                )
                yield App(
                    config=config,
                    store=store,
                    poller=poller,
                    sender=sender,
                    owner=owner,
                    clock=clock,
                )
            finally:
                await sender.aclose()
                await fetcher.aclose()
        finally:
            store.close()
    finally:
        processor.shutdown()
