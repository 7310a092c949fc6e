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
from monitor.runtime.workers import FeedWorkers, rule_specs
from monitor.store import Store

# Fewer feeds than this are parsed faster in-process than worker processes start.
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


def make_workers(config: Config) -> FeedWorkers | None:
    """Worker processes for parse + identify + match (CPU-bound pure Python), one per core,
    when it pays: starting them costs ~0.5 s of CPU; bench/poll.py shows where it is won back.
    """
    workers = os.cpu_count() or 1
    if workers < 2 or len(config.feeds) < WORKERS_MIN_FEEDS:
        return None
    return FeedWorkers(workers, rule_specs(config))


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

    def reconfigure(self, config: Config, rules: RuleSet) -> None:
        """A reloaded config, handed to every part that holds one."""
        self.config = config
        # Where new alerts go (throttles, digest webhooks) is decided as they are stored.
        self.store.set_routing(routing_from_config(config))
        self.poller.reconfigure(config, rules)
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
async def open_app(config: Config, *, console: TextIO | None = None) -> AsyncIterator[App]:
    # The process's one clock and one random source (jitter), handed to every part.
    clock = SYSTEM_CLOCK
    rng = random.Random()
    rules = compile_config_rules(config)
    store = await asyncio.to_thread(Store, config.state)
    owner = instance_id()
    try:
        await asyncio.to_thread(store.sync_feeds, feed_specs(config), clock.wall())
        store.set_routing(routing_from_config(config))
        fetcher = make_fetcher(config, clock=clock)
        sender = Sender(config, store, owner=owner, console=console, clock=clock, rng=rng)
        workers = make_workers(config)
        try:
            poller = Poller(
                config, store, fetcher, rules, owner=owner, workers=workers, clock=clock, rng=rng
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
            if workers is not None:
                workers.shutdown()
    finally:
        store.close()
