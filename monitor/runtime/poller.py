"""The pipeline for one feed, and for a round of due feeds: the impure shell around pure steps.

::

    fetch (fetch.Fetcher)
      ─► parse ─► identify ─► match (worker.process_feed: one call, in a worker process)
      ─► unseen (store.unseen) ─► alerts for the new items' matches (deliver.payload)
      ─► store.record_polls: feed state + items seen + alerts + deliveries, ONE transaction
         (polls that finish together share it: ``PollRecorder``)

Every poll ends in a recorded outcome (``PollOutcome``), never an exception: one feed's
failure never stops the others.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from monitor import log
from monitor.config import Config, FeedSettings
from monitor.core.identity import alert_id
from monitor.core.schedule import Adaptation, Timing, adapt, after_failure, after_success
from monitor.documents.payload import alert_payload
from monitor.errors import FeedParseError, StoreError
from monitor.feed.text import one_line
from monitor.fetch.fetcher import Fetcher
from monitor.models import (
    Alert,
    FeedJob,
    FeedSpec,
    FeedState,
    FeedStatus,
    FeedUpdate,
    FetchResult,
    Item,
    NewAlert,
    PollCommit,
    PollOutcome,
    PollRecord,
    ProcessedFeed,
    RuleMatch,
)
from monitor.query import RuleSet
from monitor.runtime.workers import FeedWorkers, process_feed, rule_specs
from monitor.store import Store

logger = log.get("monitor.poll")

# A 301/308 must be seen this many polls in a row before the stored URL follows it.
PERMANENT_REDIRECT_POLLS = 3


class PollRecorder:
    """Group commit: polls that finish while a write is in progress share the next one.

    On SQLite every transaction ends in an fsync; with hundreds of polls finishing per
    second, one transaction per poll would make the disk the limit. Idle, a poll's record
    is written at once, alone. A batch that fails fails every poll in it (none half-written).
    """

    MAX_BATCH = 200

    def __init__(self, store: Store) -> None:
        self.store = store
        self._pending: list[tuple[PollRecord, asyncio.Future[PollCommit]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, poll: PollRecord) -> PollCommit:
        done: asyncio.Future[PollCommit] = asyncio.get_running_loop().create_future()
        self._pending.append((poll, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_pending())
        return await done

    async def _write_pending(self) -> None:
        while self._pending:
            batch = self._pending[: self.MAX_BATCH]
            del self._pending[: self.MAX_BATCH]
            try:
                commits = await asyncio.to_thread(
                    self.store.record_polls, [poll for poll, _ in batch]
                )
            except Exception as exc:  # handed to every poll of the batch, which reports it
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for (_, done), commit in zip(batch, commits, strict=True):
                if not done.done():
                    done.set_result(commit)


def body_digest(result: FetchResult) -> str:
    """Identifies what a 200 gave to parse: the body, and what its parse depends on besides."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{result.url}\n{result.content_type}\n".encode("utf-8", "surrogatepass"))
    digest.update(result.body)
    return digest.hexdigest()


def feed_specs(config: Config) -> list[FeedSpec]:
    return [FeedSpec(url=f.url, name=f.name, interval=f.interval) for f in config.feeds]


class Poller:
    """Polls feeds end to end. Shared by ``monitor once`` and the daemon's ticks."""

    def __init__(
        self,
        config: Config,
        store: Store,
        fetcher: Fetcher,
        rules: RuleSet,
        *,
        owner: str,
        workers: FeedWorkers | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.fetcher = fetcher
        self.rules = rules
        self.owner = owner
        self.workers = workers  # None: parse and match in this process (a few feeds)
        self.clock = clock
        self.rng = rng or random.Random()
        self.recorder = PollRecorder(store)
        self._feeds = {f.url: f for f in config.feeds}
        self._webhooks = {r.name: config.webhooks_for(r) for r in config.rules}

    def reconfigure(self, config: Config, rules: RuleSet) -> None:
        self.config = config
        self.rules = rules
        if self.workers is not None:
            self.workers.reload(rule_specs(config))
        self._feeds = {f.url: f for f in config.feeds}
        self._webhooks = {r.name: config.webhooks_for(r) for r in config.rules}

    @property
    def lease(self) -> float:
        """How long a claimed feed stays ours (config checks it outlasts a fetch's deadline)."""
        return self.config.cluster.lease

    async def poll_claimed(self, states: Sequence[FeedState]) -> list[PollOutcome]:
        return list(await asyncio.gather(*(self.poll(state) for state in states)))

    async def poll(self, state: FeedState) -> PollOutcome:
        try:
            return await self._poll(state)
        except StoreError as exc:
            # Nothing was recorded: the feed stays leased until the lease ends, then is due.
            logger.error("poll not recorded: state store error", feed=state.name, error=str(exc))
            return PollOutcome(
                state.name, state.url, "error", error_kind="store", error=one_line(str(exc))
            )
        except Exception as exc:
            # A bug (in parsing, matching, a worker) costs one poll of one feed: it is logged
            # with its traceback and recorded as a failure, which backs off and frees the lease.
            logger.exception("poll crashed", feed=state.name, url=state.fetch_url)
            return await self._record_crash(state, exc)

    async def _record_crash(self, state: FeedState, exc: Exception) -> PollOutcome:
        error = one_line(f"internal error: {exc.__class__.__name__}: {exc}")
        feed = self._feeds.get(state.url)
        if feed is not None:
            crashed = FetchResult(outcome="error", url=state.fetch_url, error=error)
            try:
                return await self._record_failure(feed, state, crashed, "internal")
            except StoreError:
                pass  # the lease then simply expires
        return PollOutcome(state.name, state.url, "error", error_kind="internal", error=error)

    async def _poll(self, state: FeedState) -> PollOutcome:
        feed = self._feeds.get(state.url)
        if feed is None:  # removed from the config while claimed
            return PollOutcome(state.name, state.url, "error", error="feed no longer configured")
        result = await self.fetcher.fetch(
            state.fetch_url, etag=state.etag, last_modified=state.last_modified
        )
        if result.outcome == "error":
            return await self._record_failure(feed, state, result, result.error_kind or "error")
        digest = body_digest(result) if result.outcome == "ok" else state.body_digest
        if result.outcome == "not_modified" or digest == state.body_digest:
            # Nothing new to read: a 304, or the very body whose items are recorded already.
            return await self._record_success(feed, state, result, None, digest)
        try:
            processed = await self._process(feed, result)
        except FeedParseError as exc:
            failed = FetchResult(
                outcome="error",
                url=result.url,
                status_code=result.status_code,
                error_kind="parse",
                error=str(exc),
                elapsed=result.elapsed,
                bytes_read=result.bytes_read,
            )
            return await self._record_failure(feed, state, failed, "parse")
        for warning in processed.warnings:
            logger.info("feed warning", feed=feed.name, url=result.url, warning=warning)
        return await self._record_success(feed, state, result, processed, digest)

    async def _process(self, feed: FeedSettings, result: FetchResult) -> ProcessedFeed:
        """Parse, identify and match the body: in a worker process if there are workers."""
        job = FeedJob(result.body, result.url, result.content_type, feed.name, feed.url)
        if self.workers is None:
            return process_feed(job, self.rules)
        return await self.workers.process(job)

    def _timing(self, feed: FeedSettings) -> Timing:
        return Timing(feed.interval, feed.min_interval, feed.max_interval)

    def _redirect(
        self, state: FeedState, result: FetchResult
    ) -> tuple[str | None, int, str | None]:
        """(redirect_target, redirect_count, new fetch_url) after this response."""
        target = result.permanent_redirect
        if not target:
            return None, 0, None
        count = state.redirect_count + 1 if target == state.redirect_target else 1
        if count >= PERMANENT_REDIRECT_POLLS and target != state.fetch_url:
            logger.warning(
                "feed moved permanently", feed=state.name, old_url=state.fetch_url, new_url=target
            )
            return None, 0, target
        return target, count, None

    async def _record_success(
        self,
        feed: FeedSettings,
        state: FeedState,
        result: FetchResult,
        processed: ProcessedFeed | None,
        digest: str | None,
    ) -> PollOutcome:
        """Record a poll that read the feed: ``processed`` None when there was nothing to read
        (a 304, or the body read last time); ``digest`` is the body's (``body_digest``)."""
        now = self.clock()
        items = processed.items if processed else ()
        new_items = await asyncio.to_thread(self.store.unseen, feed.url, items) if items else []
        new_alerts = self._alerts(new_items, processed, now)
        target, count, moved_to = self._redirect(state, result)
        if processed is None:  # the hint of the body read last time still holds
            ttl = state.ttl
        else:
            ttl = float(processed.ttl_seconds) if processed.ttl_seconds else None
        # The first poll of a feed sees everything as new; that is no gap.
        possible_gap = (
            state.last_success_at is not None and len(items) > 1 and len(new_items) == len(items)
        )
        timing = self._timing(feed)
        adapted = adapt(
            timing,
            Adaptation(state.current_interval, state.item_rate),
            new_items=len(new_items),
            since_last_success=None
            if state.last_success_at is None
            else now - state.last_success_at,
            possible_gap=possible_gap,
        )
        update = FeedUpdate(
            status="ok",
            polled_at=now,
            next_poll_at=after_success(
                now, adapted.interval, timing, self.rng, max_age=result.max_age, ttl=ttl
            ),
            interval=adapted.interval,
            error_count=0,
            success=True,
            item_rate=adapted.item_rate,
            possible_gap=possible_gap,
            etag=result.etag if result.outcome == "ok" else state.etag,
            last_modified=result.last_modified if result.outcome == "ok" else state.last_modified,
            fetch_url=moved_to,
            redirect_target=target,
            redirect_count=count,
            body_digest=digest,
            ttl=ttl,
        )
        commit = await self.recorder.record(
            PollRecord(feed.url, update, new_items, new_alerts, now)
        )
        created = [a for a in new_alerts if a.id in commit.alert_ids]
        for alert in created:
            logger.info("alert", rule=alert.rule, title=alert.item.title, link=alert.item.link)
        return PollOutcome(
            feed.name,
            feed.url,
            "unchanged" if result.outcome == "ok" and processed is None else result.outcome,
            new_items=commit.new_items,
            alerts=commit.alert_ids,
            alert_rules=tuple(a.rule for a in created),
            possible_gap=possible_gap,
            elapsed=result.elapsed,
            bytes_read=result.bytes_read,
        )

    async def _record_failure(
        self, feed: FeedSettings, state: FeedState, result: FetchResult, kind: str
    ) -> PollOutcome:
        now = self.clock()
        errors = state.error_count + 1
        status: FeedStatus = (
            "disabled" if kind == "gone" else "refused" if kind == "refused" else "backoff"
        )
        update = FeedUpdate(
            status=status,
            polled_at=now,
            next_poll_at=after_failure(
                now,
                state.current_interval,
                self._timing(feed),
                errors,
                self.rng,
                retry_after=result.retry_after,
            ),
            interval=state.current_interval,
            error_count=errors,
            success=False,
            item_rate=state.item_rate,
            last_error=result.error,
            last_error_kind=kind,
            redirect_target=state.redirect_target,
            redirect_count=state.redirect_count,
        )
        await self.recorder.record(PollRecord(feed.url, update, [], [], now))
        logger.warning(
            "poll failed",
            feed=feed.name,
            url=state.fetch_url,
            kind=kind,
            error=result.error,
            status=status,
            retry_in=round(update.next_poll_at - now),
        )
        return PollOutcome(
            feed.name,
            feed.url,
            "error",
            error_kind=kind,
            error=result.error,
            elapsed=result.elapsed,
            bytes_read=result.bytes_read,
        )

    def _alerts(
        self, new_items: Sequence[Item], processed: ProcessedFeed | None, now: float
    ) -> list[NewAlert]:
        """An alert for each rule each new item matched (the worker matched every item)."""
        if not new_items or processed is None:
            return []
        matches: dict[str, tuple[RuleMatch, ...]] = {
            item.key: found
            for item, found in zip(processed.items, processed.matches, strict=True)
            if found
        }
        created = datetime.fromtimestamp(now, UTC)
        out: list[NewAlert] = []
        for item in new_items:
            for match in matches.get(item.key, ()):
                alert = Alert(
                    id=alert_id(now, os.urandom(10)),
                    rule=match.rule,
                    item=item,
                    hits=match.hits,
                    created_at=created,
                )
                out.append(
                    NewAlert(
                        id=alert.id,
                        rule=alert.rule,
                        item=item,
                        payload=alert_payload(alert),
                        webhooks=self._webhooks.get(match.rule, ()),
                        created_at=now,
                    )
                )
        return out
