"""Sends due deliveries from the outbox: signed, bounded, retried, recorded.

One round (``deliver_due``) runs one *lane* per webhook that has work due. A lane claims a
batch of that webhook's due deliveries with a lease (oldest alert first), sends them at most
``concurrency`` at a time behind the webhook's circuit breaker, and records each outcome;
after a full batch that all went through it claims the next, so a backlog drains at the
consumer's pace. Lanes are independent, so a slow or dead consumer never holds up a healthy
one, and a webhook still busy from an earlier (concurrent) round is skipped rather than
given a second lane. ``stop`` (shutdown): sends in flight finish, nothing new starts, the
rest of each claimed batch is given back untouched.

After an outage: an endpoint whose last answer was a failure, with nothing due, gets one
delivery early once per breaker cooldown (an early probe; failed, it is given back untouched,
so probing never uses up a delivery's retries). The first 2xx after failures (a due
delivery, the breaker's half-open probe, or an early probe) makes the webhook's whole
backlog due now (``release_backlog``), and the lane goes on claiming it oldest first at the
webhook's concurrency. A 429 or 503 with Retry-After holds the whole endpoint until then:
the rest of the batch is given back and the hold is stored, so no instance claims for it
(nor probes it) before the hold ends. Any exception of one attempt (a renderer, a target)
is that attempt's failure, recorded and retried like any other.

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
from monitor.core.delivery import attempt_result, counts_as_attempt, endpoint_hold
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
        self._recorder: GroupCommit[DeliveryResult | DeliveryJob, None] = GroupCommit(
            self._record_outcomes, gather=RECORD_GATHER
        )
        # Is each claim still ours, right before its send? Checks arriving together share
        # one SELECT: one per send would cost a thread hop and a query each.
        self._claim_checks: GroupCommit[DeliveryJob, bool] = GroupCommit(self._still_held)
        self._breakers: dict[str, CircuitBreaker] = {}
        self._limits: dict[str, tuple[int, asyncio.Semaphore]] = {}  # (size, semaphore)
        self._busy: set[str] = set()  # webhooks with a lane running
        self._stopping = False  # shutting down: no new send starts, no new batch is claimed
        self._gone: set[str] = set()  # webhooks that answered 410 during their current lane
        self._released: set[str] = set()  # webhooks whose backlog a recovery made due, per lane
        self._holds: dict[str, float] = {}  # webhook -> wall time its Retry-After ends
        self._recovered = False  # dead local instances' leases taken back (first round)
        # Set by the daemon: True while this instance's heartbeat is overdue, i.e. it was
        # stalled and others may be taking its claimed deliveries over.
        self.stalled: Callable[[], bool] = lambda: False
        self.reconfigure(config)

    def _record_outcomes(self, batch: list[DeliveryResult | DeliveryJob]) -> list[None]:
        """One transaction for a batch of outcomes: results, and claims given back."""
        results = [entry for entry in batch if isinstance(entry, DeliveryResult)]
        release = [entry for entry in batch if isinstance(entry, DeliveryJob)]
        for delivery_id in self.store.record_deliveries(results, release=release):
            logger.warning(
                "delivery outcome not recorded: its claim was taken over", delivery_id=delivery_id
            )
        return [None] * len(batch)

    def _still_held(self, jobs: list[DeliveryJob]) -> list[bool]:
        held = self.store.held_deliveries(jobs, self.clock.wall())
        return [job.delivery_id in held for job in jobs]

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
        now = self.clock.monotonic()
        probes = sorted(
            name
            for name, breaker in self._breakers.items()
            if name in self._hooks
            and name not in due
            and name not in self._busy
            and not self._held(name)
            and breaker.probe_early(now)
        )
        # Busy from now, not from when each lane's task first runs: a concurrent round
        # must not start a second lane for the same webhook in between.
        self._busy.update(names, probes)
        lanes = await asyncio.gather(
            *(self._lane(name) for name in names),
            *(self._lane(name, probe=True) for name in probes),
        )
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

    def _held(self, name: str) -> bool:
        """Is the webhook's endpoint held by its Retry-After (as this instance heard it)?"""
        return self._holds.get(name, 0.0) > self.clock.wall()

    async def _lane(self, name: str, *, probe: bool = False) -> list[DeliveryOutcome]:
        """``probe``: start with one delivery early, whether due or not (an early probe)."""
        try:
            if name == CONSOLE_WEBHOOK:
                jobs = await self._claim(name, CONSOLE_BATCH, LEASE_MARGIN)
                return [self._to_console(job) for job in jobs]
            outcomes: list[DeliveryOutcome] = []
            early = probe
            # A full batch may leave more due: keep going while the consumer keeps up, so a
            # backlog drains at the consumer's pace, not one batch per tick. The next batch
            # is claimed after this one, not during it: claiming ahead measured slower, as
            # the claim's thread then contends with the sends for the GIL.
            while (hook := self._hooks.get(name)) is not None and not self._stopping:
                size = 1 if early else self._batch_size(hook)
                lease = self._lease(hook, size)
                lease_end = self.clock.monotonic() + lease  # the store's lease starts after this
                if early:
                    jobs = await self._claim_probe(name, lease)
                else:
                    jobs = await self._claim(name, size, lease)
                self._gone.discard(name)  # claimed again: it is enabled again
                self._released.discard(name)
                # Oldest first: tasks start in order and the semaphore wakes waiters in order.
                batch = await asyncio.gather(
                    *(self._send_one(hook, job, lease_end, early=early) for job in jobs)
                )
                outcomes += batch
                early = False
                # A recovery in this batch made the backlog due: claim it even after a short
                # batch, rather than one tick later.
                drained = len(jobs) < size and name not in self._released
                if drained or any(o.result != "delivered" for o in batch):
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

    async def _claim_probe(self, name: str, lease: float) -> list[DeliveryJob]:
        job = await asyncio.to_thread(
            self.store.claim_probe, self.clock.wall(), owner=self.owner, lease=lease, webhook=name
        )
        return [] if job is None else [job]

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
        self, hook: WebhookSettings, job: DeliveryJob, lease_end: float, *, early: bool = False
    ) -> DeliveryOutcome:
        breaker = self._breakers[hook.name]
        async with self._limits[hook.name][1]:
            now = self.clock.monotonic()
            if (
                self._stopping
                or hook.name in self._gone
                or self._held(hook.name)  # before ``allow``: a held endpoint gets no probe
                or not breaker.allow(now)
                # A send that could outlive the claim, or a claim others may have taken over
                # while this process stood still: the delivery could go out twice. Give it
                # back; whoever claims it next sends it.
                or now + hook.timeout > lease_end
                or self.stalled()
            ):
                self._recorder.queue(job)
                return DeliveryOutcome(job.delivery_id, job.alert_id, hook.name, "paused")
            if not await self._claim_checks.commit(job):
                # Taken over (this process stood still) or replayed since the claim: it is
                # someone else's to send now, and not ours to give back.
                logger.warning(
                    "delivery claim lost: not sent", webhook=hook.name, alert_id=job.alert_id
                )
                return DeliveryOutcome(job.delivery_id, job.alert_id, hook.name, "paused")
            try:
                if hook.apprise is not None:
                    error = await notify_async(
                        hook.apprise, job.payload, hook.timeout, self._policy
                    )
                    reply = AttemptReply(error=error)
                elif hook.broker is not None:
                    reply = await self.brokers.publish(hook, job)
                else:
                    reply = await self.poster.post(hook, job)
            except Exception as exc:  # a bug (a renderer, a target): this attempt failed
                logger.exception(
                    "delivery attempt raised", webhook=hook.name, alert_id=job.alert_id
                )
                reply = AttemptReply(error=f"unexpected {exc.__class__.__name__}: {exc}")
        if reply.error is not None:
            # Recorded as last_error and logged: an error may name the target's URL, whose
            # path or userinfo is the credential (Slack, Discord, Apprise).
            reply = replace(reply, error=redact_text(reply.error, self._secrets))
        ended = self.clock.wall()
        schedule = hook.retry_schedule or DEFAULT_SCHEDULE
        decision = attempt_result(
            job, reply, schedule=schedule, url=hook.url, now=ended, rng=self.rng
        )
        hold = endpoint_hold(reply, ended)
        return await self._apply(hook, breaker, job, decision, ended, hold=hold, early=early)

    async def _apply(
        self,
        hook: WebhookSettings,
        breaker: CircuitBreaker,
        job: DeliveryJob,
        decision: AttemptDecision,
        now: float,
        *,
        hold: float | None,
        early: bool,
    ) -> DeliveryOutcome:
        """Tell the breaker, release the backlog on a recovery, hold the endpoint on a
        Retry-After, disable the webhook on a 410, log a failure, record the row. Returns
        the outcome to report."""
        outcome = decision.outcome
        if outcome.result == "delivered":
            if breaker.record_success(self.clock.monotonic()):
                await self._release_backlog(hook.name, now)
        else:
            breaker.record_failure(self.clock.monotonic())
        if hold is not None:
            self._holds[hook.name] = hold
            await asyncio.to_thread(self.store.hold_webhook, hook.name, hold)
            logger.warning("endpoint held by its Retry-After", webhook=hook.name, until=hold)
        counted = counts_as_attempt(decision, early=early)
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
                next=self._next_text(decision) if counted else "early probe: retry as scheduled",
            )
        if counted:
            self._recorder.queue(decision.result)
            return outcome
        self._recorder.queue(job)
        return replace(outcome, result="retry")

    @staticmethod
    def _next_text(decision: AttemptDecision) -> str:
        return "dead" if decision.retry_in is None else f"retry in {decision.retry_in:.0f}s"

    async def _release_backlog(self, name: str, now: float) -> None:
        released = await asyncio.to_thread(self.store.release_backlog, name, now)
        if released:
            self._released.add(name)
            logger.info("endpoint is back: its backlog is due now", webhook=name, count=released)
