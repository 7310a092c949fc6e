"""Sends due deliveries from the outbox: signed, bounded, retried, recorded.

One round (``deliver_due``) claims due deliveries with a lease (oldest alert first), sends
them — per webhook at most ``concurrency`` at once, behind a circuit breaker — and records
each outcome. A delivery is marked delivered only on a 2xx. Nothing is lost: a delivery that
is not attempted (endpoint paused, shutdown) is released back to the outbox untouched.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TextIO

import httpx

from monitor import __version__, log
from monitor.config import CONSOLE_WEBHOOK, Config, WebhookSettings
from monitor.deliver.breaker import CircuitBreaker
from monitor.deliver.formats import render
from monitor.deliver.retry import DEFAULT_SCHEDULE, classify, next_delay, parse_retry_after
from monitor.deliver.sign import signature_headers
from monitor.errors import DeliveryError
from monitor.netguard import NetworkPolicy, guarded_transport
from monitor.store import DeliveryJob, Store

logger = log.get("monitor.deliver")


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    delivery_id: int
    alert_id: str
    webhook: str
    result: str  # delivered, retry, dead, disabled, paused
    status_code: int | None = None
    error: str | None = None
    latency: float | None = None  # alert created -> delivered, seconds
    published_lag: float | None = None  # item published -> delivered, seconds


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
        self._client = httpx.AsyncClient(
            transport=guarded_transport(
                NetworkPolicy(
                    allow_private=config.network.allow_private,
                    allow_cidrs=config.network.allow_cidrs,
                )
            ),
            follow_redirects=False,  # a 3xx is a failure: consumers must give the real URL
            headers={"user-agent": f"news-monitor/{__version__}"},
        )
        self._breakers: dict[str, CircuitBreaker] = {}
        self._limits: dict[str, asyncio.Semaphore] = {}
        self.reconfigure(config)

    def reconfigure(self, config: Config) -> None:
        self.config = config
        self._hooks = {w.name: w for w in config.webhooks}
        for hook in config.webhooks:
            self._breakers.setdefault(
                hook.name, CircuitBreaker(failure_threshold=hook.failure_threshold)
            )
            self._limits[hook.name] = asyncio.Semaphore(hook.concurrency)

    @property
    def lease(self) -> float:
        longest = max((w.timeout for w in self.config.webhooks), default=15.0)
        return longest + 30.0

    async def aclose(self) -> None:
        await self._client.aclose()

    async def deliver_due(self, limit: int = 500) -> list[DeliveryOutcome]:
        """One round: claim what is due now, send it, record every outcome."""
        jobs = await asyncio.to_thread(
            self.store.claim_due_deliveries,
            self.clock(),
            owner=self.owner,
            lease=self.lease,
            limit=limit,
            webhooks=[*self._hooks, CONSOLE_WEBHOOK],
        )
        by_hook: dict[str, list[DeliveryJob]] = {}
        for job in jobs:
            by_hook.setdefault(job.webhook, []).append(job)
        rounds = await asyncio.gather(*(self._send_all(name, js) for name, js in by_hook.items()))
        return [outcome for outcomes in rounds for outcome in outcomes]

    async def _send_all(self, name: str, jobs: list[DeliveryJob]) -> list[DeliveryOutcome]:
        if name == CONSOLE_WEBHOOK:
            return [await self._to_console(job) for job in jobs]
        hook = self._hooks[name]
        # Oldest first: tasks are started in order and take the semaphore in order.
        return list(await asyncio.gather(*(self._send_one(hook, job) for job in jobs)))

    async def _to_console(self, job: DeliveryJob) -> DeliveryOutcome:
        self.console.write(json.dumps(job.payload, ensure_ascii=False) + "\n")
        self.console.flush()
        return await self._finish(job, "delivered", 200, None)

    async def _send_one(self, hook: WebhookSettings, job: DeliveryJob) -> DeliveryOutcome:
        breaker = self._breakers[hook.name]
        async with self._limits[hook.name]:
            if not breaker.allow(time.monotonic()):
                await asyncio.to_thread(self.store.release_deliveries, [job.delivery_id])
                return DeliveryOutcome(job.delivery_id, job.alert_id, hook.name, "paused")
            status, error, retry_after = await self._post(hook, job)
        verdict = classify(status)
        if verdict == "delivered":
            breaker.record_success(time.monotonic())
        else:
            breaker.record_failure(time.monotonic())
        if verdict == "disable":
            reason = f"HTTP 410 Gone from {hook.url}: webhook disabled"
            await asyncio.to_thread(self.store.disable_webhook, hook.name, reason, self.clock())
            logger.error("webhook disabled", webhook=hook.name, reason=reason)
            return await self._finish(job, "disabled", status, reason)
        if verdict == "delivered":
            return await self._finish(job, "delivered", status, None)
        schedule = hook.retry_schedule or DEFAULT_SCHEDULE
        delay = next_delay(job.attempts + 1, schedule, retry_after=retry_after, rng=self.rng)
        result = "dead" if delay is None else "retry"
        logger.warning(
            "delivery failed",
            webhook=hook.name,
            alert_id=job.alert_id,
            attempt=job.attempts + 1,
            error=error,
            next=result if delay is None else f"retry in {delay:.0f}s",
        )
        return await self._finish(job, result, status, error, delay)

    async def _post(
        self, hook: WebhookSettings, job: DeliveryJob
    ) -> tuple[int | None, str | None, float | None]:
        """(status code or None, error text or None, Retry-After seconds or None)."""
        sent_at = datetime.now(UTC)
        try:
            content_type, body = render(hook.format, job.payload)
            headers = {"content-type": content_type, "webhook-id": job.alert_id}
            headers["webhook-timestamp"] = str(int(sent_at.timestamp()))
            if hook.secrets:
                headers.update(signature_headers(job.alert_id, sent_at, body, hook.secrets))
        except DeliveryError as exc:  # config validation should make this unreachable
            return None, str(exc), None
        try:
            async with asyncio.timeout(hook.timeout):
                response = await self._client.post(
                    hook.url, content=body, headers=headers, timeout=hook.timeout
                )
        except TimeoutError:
            return None, f"timed out after {hook.timeout:g}s", None
        except httpx.HTTPError as exc:
            return None, f"{exc.__class__.__name__}: {exc}" if str(exc) else repr(exc), None
        retry_after = None
        if response.status_code in (429, 503):
            retry_after = parse_retry_after(response.headers.get("retry-after"), sent_at)
        if 200 <= response.status_code < 300:
            return response.status_code, None, None
        return response.status_code, f"HTTP {response.status_code}", retry_after

    async def _finish(
        self,
        job: DeliveryJob,
        result: str,
        status: int | None,
        error: str | None,
        delay: float | None = None,
    ) -> DeliveryOutcome:
        now = self.clock()
        attempts = job.attempts + 1
        if result == "delivered":
            state, next_at = "delivered", None
        elif result == "dead":
            state, next_at = "dead", None
        else:  # retry; or disabled: kept failed, re-sent once the webhook is enabled again
            state, next_at = "failed", now + (delay or 0.0)
        await asyncio.to_thread(
            self.store.record_delivery,
            job.delivery_id,
            state=state,
            attempts=attempts,
            next_attempt_at=next_at,
            last_error=error,
            last_status=status,
            delivered_at=now if state == "delivered" else None,
        )
        delivered = state == "delivered"
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
