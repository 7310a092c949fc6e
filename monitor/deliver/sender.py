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
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TextIO

import httpx

from monitor import __version__, log
from monitor.config import CONSOLE_WEBHOOK, Config, WebhookSettings, routing_from_config
from monitor.core.breaker import CircuitBreaker
from monitor.core.retry import (
    DEFAULT_SCHEDULE,
    Verdict,
    classify,
    next_delay,
    parse_retry_after,
)
from monitor.deliver.apprise_target import notify_async
from monitor.deliver.leases import is_dead_local_owner
from monitor.documents.render import render
from monitor.documents.sign import signature_headers
from monitor.errors import DeliveryError, FetchError
from monitor.models import (
    AttemptResult,
    DeliveryJob,
    DeliveryOutcome,
    DeliveryResult,
    DeliveryState,
)
from monitor.net.clients import OneConnectionClients, one_connection_transport
from monitor.net.guard import NetworkPolicy
from monitor.store import Store

logger = log.get("monitor.deliver")

# A lane claims this many deliveries per concurrency slot: enough to keep a fast consumer
# busy between claims, few enough that the lease (which must outlast the batch) stays short.
BATCH_PER_SLOT = 16
IDLE_CLIENTS_MAX = 256  # idle keep-alive connections kept over all webhooks
# Lease room beyond the batch's worst case (every wave timing out): claiming, recording.
LEASE_MARGIN = 10.0
CONSOLE_BATCH = 500
# Outcomes wait this long to share a transaction: each costs ~1 ms of CPU and an fsync, and
# a fast consumer yields one outcome per millisecond. The lease covers the wait.
RECORD_GATHER = 0.02
USER_AGENT = f"news-monitor/{__version__}"


class _Recorder:
    """Group commit: outcomes queue up while the previous batch's transaction runs.

    A fast consumer yields hundreds of outcomes per second; one transaction (one fsync on
    SQLite) each would cap throughput, one per ``RECORD_GATHER`` does not.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._results: list[DeliveryResult] = []
        self._release: list[int] = []
        self._task: asyncio.Task[None] | None = None

    def record(self, result: DeliveryResult) -> None:
        self._results.append(result)
        self._kick()

    def release(self, delivery_id: int) -> None:
        self._release.append(delivery_id)
        self._kick()

    def _kick(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._write())

    async def _write(self) -> None:
        await asyncio.sleep(RECORD_GATHER)
        while self._results or self._release:
            results, self._results = self._results, []
            release, self._release = self._release, []
            await asyncio.to_thread(self.store.record_deliveries, results, release=release)

    async def flush(self) -> None:
        """Wait until everything queued so far is committed (re-raises a store error)."""
        while self._task is not None:
            task = self._task
            await asyncio.wait([task])
            if self._task is task:
                self._task = None
            task.result()


class _WebhookClient(httpx.AsyncClient):
    """One SSRF-guarded connection; ``send_direct`` skips the client layer.

    A webhook send needs nothing from it (URL merging, cookies, auth, redirects, event
    hooks), and it cost a quarter of a request's CPU. The client is kept for its lifecycle:
    ``OneConnectionClients`` lends clients out and closes them.
    """

    def __init__(self, policy: NetworkPolicy) -> None:
        self._transport_direct = one_connection_transport(policy)
        super().__init__(
            transport=self._transport_direct,
            follow_redirects=False,  # a 3xx is a failure: consumers must give the real URL
            trust_env=False,  # an environment proxy would bypass the SSRF guard
        )

    async def send_direct(self, request: httpx.Request) -> httpx.Response:
        """The response, body read, its connection back in the pool for the next send."""
        response = await self._transport_direct.handle_async_request(request)
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response


@functools.lru_cache(maxsize=256)
def _url(url: str) -> httpx.URL:
    """Parsed once per webhook URL, not once per send."""
    return httpx.URL(url)


class Sender:
    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        owner: str,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        console: TextIO | None = None,
    ) -> None:
        self.store = store
        self.owner = owner
        self.clock = clock
        self.rng = rng or random.Random()
        self.console = console or sys.stdout
        self._policy = NetworkPolicy(
            allow_private=config.network.allow_private, allow_cidrs=config.network.allow_cidrs
        )
        # One-connection clients per webhook (a send takes one for its duration); the
        # semaphores cap how many a webhook has busy, so the idle cap is only a backstop.
        self._clients = OneConnectionClients(
            lambda: _WebhookClient(self._policy), max_idle=IDLE_CLIENTS_MAX
        )
        self._recorder = _Recorder(store)
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

    def reconfigure(self, config: Config) -> None:
        self.config = config
        # Where new alerts go (throttles, digest webhooks) is decided as they are stored.
        self.store.set_routing(routing_from_config(config))
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
        await self._clients.aclose()

    async def deliver_due(self) -> list[DeliveryOutcome]:
        """One round: a lane per webhook with work due; returns once every outcome is recorded.

        Safe to call while an earlier round still runs: webhooks busy in it are skipped.
        """
        if not self._recovered:
            await asyncio.to_thread(self._recover)
            self._recovered = True
        due = await asyncio.to_thread(self.store.due_webhooks, self.clock())
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
                lease_end = time.monotonic() + lease  # the store's lease starts after this
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
            self.clock(),
            owner=self.owner,
            lease=lease,
            limit=limit,
            webhooks=[name],
        )

    def _to_console(self, job: DeliveryJob) -> DeliveryOutcome:
        self.console.write(json.dumps(job.payload, ensure_ascii=False) + "\n")
        self.console.flush()
        return self._finish(job, "delivered", 200, None)

    async def _send_one(
        self, hook: WebhookSettings, job: DeliveryJob, lease_end: float
    ) -> DeliveryOutcome:
        breaker = self._breakers[hook.name]
        async with self._limits[hook.name][1]:
            now = time.monotonic()
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
                self._recorder.release(job.delivery_id)
                return DeliveryOutcome(job.delivery_id, job.alert_id, hook.name, "paused")
            if hook.apprise is not None:
                status, retry_after = None, None
                error = await notify_async(hook.apprise, job.payload, hook.timeout, self._policy)
                verdict: Verdict = "retry" if error else "delivered"
            else:
                status, error, retry_after = await self._post(hook, hook.url or "", job)
                verdict = classify(status)
        if verdict == "delivered":
            breaker.record_success(time.monotonic())
            return self._finish(job, "delivered", status, None)
        breaker.record_failure(time.monotonic())
        if verdict == "disable":
            self._gone.add(hook.name)
            reason = f"HTTP 410 Gone from {hook.url}: webhook disabled"
            await asyncio.to_thread(self.store.disable_webhook, hook.name, reason, self.clock())
            logger.error("webhook disabled", webhook=hook.name, reason=reason)
            return self._finish(job, "disabled", status, reason)
        schedule = hook.retry_schedule or DEFAULT_SCHEDULE
        delay = next_delay(job.attempts + 1, schedule, retry_after=retry_after, rng=self.rng)
        logger.warning(
            "delivery failed",
            webhook=hook.name,
            alert_id=job.alert_id,
            attempt=job.attempts + 1,
            error=error,
            next="dead" if delay is None else f"retry in {delay:.0f}s",
        )
        if delay is None:
            return self._finish(job, "dead", status, error)
        return self._finish(job, "retry", status, error, delay)

    async def _post(
        self, hook: WebhookSettings, url: str, job: DeliveryJob
    ) -> tuple[int | None, str | None, float | None]:
        """(status code or None, error text or None, Retry-After seconds or None)."""
        sent_at = datetime.now(UTC)
        try:
            content_type, body = render(hook.format, job.payload)
            headers = {
                "user-agent": USER_AGENT,
                "content-type": content_type,
                "webhook-id": job.alert_id,
            }
            headers["webhook-timestamp"] = str(int(sent_at.timestamp()))
            if hook.secrets:
                headers.update(signature_headers(job.alert_id, sent_at, body, hook.secrets))
        except DeliveryError as exc:  # config validation should make this unreachable
            return None, str(exc), None
        request = httpx.Request(
            "POST",
            _url(url),
            content=body,
            headers=headers,
            extensions={"timeout": httpx.Timeout(hook.timeout).as_dict()},
        )
        try:
            async with self._clients.client(hook.name) as client, asyncio.timeout(hook.timeout):
                response = await client.send_direct(request)
        except TimeoutError:
            return None, f"timed out after {hook.timeout:g}s", None
        except FetchError as exc:  # the SSRF guard refused the address the host resolves to
            return None, str(exc), None
        except httpx.HTTPError as exc:
            return None, f"{exc.__class__.__name__}: {exc}" if str(exc) else repr(exc), None
        if 200 <= response.status_code < 300:
            return response.status_code, None, None
        retry_after = None
        if response.status_code in (429, 503):
            retry_after = parse_retry_after(response.headers.get("retry-after"), sent_at)
        error = f"HTTP {response.status_code}"
        if 300 <= response.status_code < 400:
            error += f" redirect to {response.headers.get('location', '?')} (not followed)"
        return response.status_code, error, retry_after

    def _finish(
        self,
        job: DeliveryJob,
        result: AttemptResult,
        status: int | None,
        error: str | None,
        delay: float = 0.0,
    ) -> DeliveryOutcome:
        now = self.clock()
        state: DeliveryState
        next_at: float | None
        if result == "delivered":
            state, next_at = "delivered", None
        elif result == "dead":
            state, next_at = "dead", None
        else:  # retry; or disabled: kept failed, re-sent once the webhook is enabled again
            state, next_at = "failed", now + delay
        delivered = state == "delivered"
        self._recorder.record(
            DeliveryResult(
                job.delivery_id,
                state=state,
                attempts=job.attempts + 1,
                next_attempt_at=next_at,
                last_error=error,
                last_status=status,
                delivered_at=now if delivered else None,
            )
        )
        return DeliveryOutcome(
            job.delivery_id,
            job.alert_id,
            job.webhook,
            result,
            status_code=status,
            error=error,
            latency=now - job.alert_created_at if delivered else None,
            published_lag=now - job.published if delivered and job.published else None,
        )
