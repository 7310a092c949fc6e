"""Sends due deliveries from the outbox: signed, bounded, retried, recorded.

One round (``deliver_due``) runs one *lane* per webhook that has work due. A lane claims a
batch of that webhook's due deliveries with a lease (oldest alert first), sends them at most
``concurrency`` at a time behind the webhook's circuit breaker, and records each outcome;
after a full batch that all went through it claims the next, so a backlog drains at the
consumer's pace. Lanes are independent, so a slow or dead consumer never holds up a healthy
one, and a webhook still busy from an earlier (concurrent) round is skipped rather than
given a second lane. ``stop`` (shutdown): sends in flight finish, nothing new starts, the
rest of each claimed batch is given back untouched.

Guarantees: at least once, never "exactly once". A delivery is marked delivered only on a
2xx; a crash between the consumer's 2xx and our commit sends it again with the same
``webhook-id``, which is why consumers deduplicate on it. A delivery that is not attempted
(endpoint paused, webhook just disabled) is released back to the outbox untouched: it keeps
its attempts. Order: one webhook's alerts go out oldest first (strictly so with
``concurrency: 1``); there is no ordering across webhooks.

What an attempt means (delivered, retry when, dead, disable on 410) is decided in
``core.delivery``; this module awaits, applies, and reads time only from its ``Clock``.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import sys
from collections.abc import Callable
from dataclasses import replace
from typing import TextIO

import httpx

from monitor import log
from monitor.config import CONSOLE_WEBHOOK, Config, WebhookSettings
from monitor.core.breaker import CircuitBreaker
from monitor.core.clock import SYSTEM_CLOCK, Clock
from monitor.core.delivery import attempt_result
from monitor.core.retry import DEFAULT_SCHEDULE
from monitor.deliver.apprise_target import notify_async
from monitor.deliver.broker_target import BrokerPublisher
from monitor.deliver.http_target import WebhookPoster
from monitor.deliver.leases import is_dead_local_owner
from monitor.models import (
    AttemptDecision,
    AttemptReply,
    DeliveryJob,
    DeliveryOutcome,
    DeliveryResult,
)
from monitor.net.guard import NetworkPolicy
from monitor.net.useragent import USER_AGENT
from monitor.redact import redact_text
from monitor.store.groupcommit import GroupCommit
from monitor.store.interface import SenderStore

logger = log.get("monitor.deliver")

# A lane claims this many deliveries per concurrency slot: enough to keep a fast consumer
# busy between claims, few enough that the lease (which must outlast the batch) stays short.
BATCH_PER_SLOT = 16
# Lease room beyond the batch's worst case (every wave timing out): claiming, recording.
LEASE_MARGIN = 10.0
CONSOLE_BATCH = 500
# Outcomes wait this long to share a transaction: each costs ~1 ms of CPU and an fsync, and
# a fast consumer yields one outcome per millisecond. The lease covers the wait.
RECORD_GATHER = 0.02


class Sender:
    def __init__(
        self,
        config: Config,
        store: SenderStore,
        *,
        owner: str,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
        console: TextIO | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """``transport``, if given, takes every signed POST (tests); by default each webhook
        sends on its own SSRF-guarded one-connection clients."""
        self.store = store
        self.owner = owner
        self.clock = clock
        self.rng = rng or random.Random()
        self.console = console or sys.stdout
        self._policy = NetworkPolicy(
            allow_private=config.network.allow_private, allow_cidrs=config.network.allow_cidrs
        )
        self.poster = WebhookPoster(self._policy, clock.wall, USER_AGENT, transport)
        self.brokers = BrokerPublisher(self._policy)
        # Group commit: outcomes queue up while the previous batch's transaction runs. A fast
        # consumer yields hundreds of outcomes per second; one transaction (one fsync on SQLite)
        # each would cap throughput, one per RECORD_GATHER does not.
        self._recorder: GroupCommit[DeliveryResult | int, None] = GroupCommit(
            self._record_outcomes, gather=RECORD_GATHER
        )
        self._breakers: dict[str, CircuitBreaker] = {}
        self._limits: dict[str, tuple[int, asyncio.Semaphore]] = {}  # (size, semaphore)
        self._busy: set[str] = set()  # webhooks with a lane running
        self._stopping = False  # shutting down: no new send starts, no new batch is claimed
        self._gone: set[str] = set()  # webhooks that answered 410 during their current lane
        self._recovered = False  # dead local instances' leases taken back (first round)
        # Set by the daemon: True while this instance's heartbeat is overdue, i.e. it was
        # stalled and others may be taking its claimed deliveries over.
        self.stalled: Callable[[], bool] = lambda: False
        self.reconfigure(config)

    def _record_outcomes(self, batch: list[DeliveryResult | int]) -> list[None]:
        """One transaction for a batch of outcomes: results, and delivery ids given back."""
        results = [entry for entry in batch if isinstance(entry, DeliveryResult)]
        release = [entry for entry in batch if isinstance(entry, int)]
        self.store.record_deliveries(results, release=release)
        return [None] * len(batch)

    def reconfigure(self, config: Config) -> None:
        self.config = config
        self._secrets = config.secret_values()
        self._hooks = {w.name: w for w in config.webhooks}
        for hook in config.webhooks:
            breaker = self._breakers.get(hook.name)
            wanted = (hook.failure_threshold, hook.breaker_cooldown)
            if breaker is None or (breaker.failure_threshold, breaker.base_cooldown) != wanted:
                self._breakers[hook.name] = CircuitBreaker(
                    failure_threshold=hook.failure_threshold, cooldown=hook.breaker_cooldown
                )
            # A running lane keeps its semaphore; only a changed limit gets a new one.
            limit = self._limits.get(hook.name)
            if limit is None or limit[0] != hook.concurrency:
                self._limits[hook.name] = (hook.concurrency, asyncio.Semaphore(hook.concurrency))

    def stop(self) -> None:
        """Shutdown begins: sends in flight finish, the rest of each batch is given back."""
        self._stopping = True

    async def aclose(self) -> None:
        await self.poster.aclose()
        await self.brokers.aclose()

    async def deliver_due(self) -> list[DeliveryOutcome]:
        """One round: a lane per webhook with work due; returns once every outcome is recorded.

        Safe to call while an earlier round still runs: webhooks busy in it are skipped.
        """
        if not self._recovered:
            await asyncio.to_thread(self._recover)
            self._recovered = True
        due = await asyncio.to_thread(self.store.due_webhooks, self.clock.wall())
        known = {*self._hooks, CONSOLE_WEBHOOK}
        names = sorted(name for name in due & known if name not in self._busy)
        # Busy from now, not from when each lane's task first runs: a concurrent round
        # must not start a second lane for the same webhook in between.
        self._busy.update(names)
        lanes = await asyncio.gather(*(self._lane(name) for name in names))
        await self._recorder.flush()
        return [outcome for lane in lanes for outcome in lane]

    def _recover(self) -> None:
        for owner in self.store.lease_owners():
            if is_dead_local_owner(owner, self.owner):
                logger.info("taking back the leases of a dead instance", owner=owner)
                self.store.release_leases(owner)

    def _batch_size(self, hook: WebhookSettings) -> int:
        # A circuit that is not closed lets one probe through: claim one, not a batch.
        if self._breakers[hook.name].state != "closed":
            return 1
        return hook.concurrency * BATCH_PER_SLOT

    @staticmethod
    def _lease(hook: WebhookSettings, count: int) -> float:
        """Long enough for ``count`` deliveries even if every wave times out."""
        return math.ceil(count / hook.concurrency) * hook.timeout + LEASE_MARGIN

    async def _lane(self, name: str) -> list[DeliveryOutcome]:
        try:
            if name == CONSOLE_WEBHOOK:
                jobs = await self._claim(name, CONSOLE_BATCH, LEASE_MARGIN)
                return [self._to_console(job) for job in jobs]
            outcomes: list[DeliveryOutcome] = []
            # A full batch may leave more due: keep going while the consumer keeps up, so a
            # backlog drains at the consumer's pace, not one batch per tick. The next batch
            # is claimed after this one, not during it: claiming ahead measured slower, as
            # the claim's thread then contends with the sends for the GIL.
            while (hook := self._hooks.get(name)) is not None and not self._stopping:
                size = self._batch_size(hook)
                lease = self._lease(hook, size)
                lease_end = self.clock.monotonic() + lease  # the store's lease starts after this
                jobs = await self._claim(name, size, lease)
                self._gone.discard(name)  # claimed again: it is enabled again
                # Oldest first: tasks start in order and the semaphore wakes waiters in order.
                batch = await asyncio.gather(
                    *(self._send_one(hook, job, lease_end) for job in jobs)
                )
                outcomes += batch
                if len(jobs) < size or any(o.result != "delivered" for o in batch):
                    break
            return outcomes
        finally:
            self._busy.discard(name)

    async def _claim(self, name: str, limit: int, lease: float) -> list[DeliveryJob]:
        return await asyncio.to_thread(
            self.store.claim_due_deliveries,
            self.clock.wall(),
            owner=self.owner,
            lease=lease,
            limit=limit,
            webhooks=[name],
        )

    def _to_console(self, job: DeliveryJob) -> DeliveryOutcome:
        self.console.write(json.dumps(job.payload, ensure_ascii=False) + "\n")
        self.console.flush()
        decision = attempt_result(
            job,
            AttemptReply(200),
            schedule=DEFAULT_SCHEDULE,
            url=None,
            now=self.clock.wall(),
            rng=self.rng,
        )
        self._recorder.queue(decision.result)
        return decision.outcome

    async def _send_one(
        self, hook: WebhookSettings, job: DeliveryJob, lease_end: float
    ) -> DeliveryOutcome:
        breaker = self._breakers[hook.name]
        async with self._limits[hook.name][1]:
            now = self.clock.monotonic()
            if (
                self._stopping
                or hook.name in self._gone
                or not breaker.allow(now)
                # A send that could outlive the claim, or a claim others may have taken over
                # while this process stood still: the delivery could go out twice. Give it
                # back; whoever claims it next sends it.
                or now + hook.timeout > lease_end
                or self.stalled()
            ):
                self._recorder.queue(job.delivery_id)
                return DeliveryOutcome(job.delivery_id, job.alert_id, hook.name, "paused")
            if hook.apprise is not None:
                error = await notify_async(hook.apprise, job.payload, hook.timeout, self._policy)
                reply = AttemptReply(error=error)
            elif hook.broker is not None:
                reply = await self.brokers.publish(hook, job)
            else:
                reply = await self.poster.post(hook, job)
        if reply.error is not None:
            # Recorded as last_error and logged: an error may name the target's URL, whose
            # path or userinfo is the credential (Slack, Discord, Apprise).
            reply = replace(reply, error=redact_text(reply.error, self._secrets))
        ended = self.clock.wall()
        schedule = hook.retry_schedule or DEFAULT_SCHEDULE
        decision = attempt_result(
            job, reply, schedule=schedule, url=hook.url, now=ended, rng=self.rng
        )
        await self._apply(hook, breaker, job, decision, ended)
        return decision.outcome

    async def _apply(
        self,
        hook: WebhookSettings,
        breaker: CircuitBreaker,
        job: DeliveryJob,
        decision: AttemptDecision,
        now: float,
    ) -> None:
        """Tell the breaker, disable the webhook on a 410, log a failure, record the row."""
        outcome = decision.outcome
        if outcome.result == "delivered":
            breaker.record_success(self.clock.monotonic())
        else:
            breaker.record_failure(self.clock.monotonic())
        if decision.disable_reason is not None:
            self._gone.add(hook.name)
            reason = decision.disable_reason
            await asyncio.to_thread(self.store.disable_webhook, hook.name, reason, now)
            logger.error("webhook disabled", webhook=hook.name, reason=reason)
        elif outcome.result != "delivered":
            logger.warning(
                "delivery failed",
                webhook=hook.name,
                alert_id=job.alert_id,
                attempt=job.attempts + 1,
                error=outcome.error,
                next="dead" if decision.retry_in is None else f"retry in {decision.retry_in:.0f}s",
            )
        self._recorder.queue(decision.result)
