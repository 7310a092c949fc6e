"""The pipeline for one feed, and for a round of due feeds: the impure shell around pure steps.

::

    fetch (fetch.Fetcher)
      ─► parse ─► identify ─► match (workers.process_feed: one call, off the event loop)
      ─► unseen (store.unseen) ─► alerts for the new items' matches (deliver.payload)
      ─► store.record_polls: feed state + items seen + alerts + deliveries, ONE transaction
         (polls that finish together share it: ``GroupCommit``)

What a poll changes on its feed is decided by ``core.polling.decide_poll``: this module only
awaits and applies.

Every poll ends in a recorded outcome (``PollOutcome``), never an exception: one feed's
failure never stops the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from monitor import log
from monitor.config import Config, FeedSettings
from monitor.core.clock import SYSTEM_CLOCK, Clock
from monitor.core.identity import alert_id
from monitor.core.polling import (
    BodyRead,
    NothingToRead,
    PollFailed,
    PollFinding,
    decide_poll,
    digest_to_read,
)
from monitor.core.schedule import Timing
from monitor.documents.payload import alert_payload
from monitor.errors import FeedParseError, StoreError
from monitor.fetch.fetcher import Fetcher
from monitor.models import (
    Alert,
    FeedJob,
    FeedSpec,
    FeedState,
    FetchResult,
    Item,
    NewAlert,
    PollCommit,
    PollOutcome,
    PollRecord,
    ProcessedFeed,
    RuleMatch,
)
from monitor.redact import redact_text, redact_url
from monitor.runtime.workers import FeedProcessor, rule_specs
from monitor.store.groupcommit import GroupCommit
from monitor.store.interface import PollerStore
from monitor.text import one_line

logger = log.get("monitor.poll")

# Polls written in one transaction at most: one fsync for many polls (SQLite), yet a
# transaction short enough not to hold the write lock long.
RECORD_BATCH = 200


def _timing(feed: FeedSettings) -> Timing:
    return Timing(feed.interval, feed.min_interval, feed.max_interval)


def feed_specs(config: Config) -> list[FeedSpec]:
    return [FeedSpec(url=f.url, name=f.name, interval=f.interval) for f in config.feeds]


class Poller:
    """Polls feeds end to end. Shared by ``monitor once`` and the daemon's ticks."""

    def __init__(
        self,
        config: Config,
        store: PollerStore,
        fetcher: Fetcher,
        processor: FeedProcessor,
        *,
        owner: str,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.fetcher = fetcher
        self.processor = processor  # parse + identify + match, with the rules it holds
        self.owner = owner
        self.clock = clock
        self.rng = rng or random.Random()
        self.recorder: GroupCommit[PollRecord, PollCommit] = GroupCommit(
            lambda polls: self.store.record_polls(polls), max_batch=RECORD_BATCH
        )
        self._use(config)

    async def prepare(self, config: Config) -> Callable[[], None]:
        """Get ``config``'s rules ready off the event loop; calling the result switches the
        poller to ``config`` and those rules at once."""
        use_rules = await self.processor.prepare(rule_specs(config))

        def switch() -> None:
            use_rules()
            self._use(config)

        return switch

    def _use(self, config: Config) -> None:
        self.config = config
        self._feeds = {f.url: f for f in config.feeds}
        self._webhooks = {r.name: config.webhooks_for(r) for r in config.rules}
        self._secrets = config.secret_values()

    def _redact(self, error: str) -> str:
        """An error as it may be recorded and shown: it can name a URL with credentials."""
        return redact_text(error, self._secrets)

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
            error = self._redact(one_line(str(exc)))
            logger.error("poll not recorded: state store error", feed=state.name, error=error)
            await self._give_back(state)  # due again at once, not when the lease ends
            return PollOutcome(state.name, state.url, "error", error_kind="store", error=error)
        except Exception as exc:
            # A bug (in parsing, matching, a worker) costs one poll of one feed: it is logged
            # with its traceback and recorded as a failure, which backs off and frees the lease.
            logger.exception("poll crashed", feed=state.name, url=redact_url(state.fetch_url))
            return await self._record_crash(state, exc)

    async def _record_crash(self, state: FeedState, exc: Exception) -> PollOutcome:
        error = self._redact(one_line(f"internal error: {exc.__class__.__name__}: {exc}"))
        feed = self._feeds.get(state.url)
        if feed is not None:
            crashed = FetchResult(outcome="error", url=state.fetch_url, error=error)
            try:
                return await self._record_failure(feed, state, crashed, "internal")
            except StoreError:
                await self._give_back(state)
        return PollOutcome(state.name, state.url, "error", error_kind="internal", error=error)

    async def _give_back(self, state: FeedState) -> None:
        """Nothing of the poll was recorded: its feed is due on the next tick, not when
        the lease ends (if the store cannot take even that, the lease simply expires)."""
        with contextlib.suppress(StoreError):
            await asyncio.to_thread(self.store.release_feeds, [state.url], owner=self.owner)

    async def _poll(self, state: FeedState) -> PollOutcome:
        feed = self._feeds.get(state.url)
        if feed is None:  # removed from the config while claimed
            return PollOutcome(state.name, state.url, "error", error="feed no longer configured")
        result = await self.fetcher.fetch(
            state.fetch_url, etag=state.etag, last_modified=state.last_modified
        )
        if result.outcome == "error":
            return await self._record_failure(feed, state, result, result.error_kind or "error")
        digest = digest_to_read(state, result)
        if digest is None:
            # Nothing new to read: a 304, or the very body whose items are recorded already.
            return await self._record_success(feed, state, result, None, None)
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
            logger.info("feed warning", feed=feed.name, url=redact_url(result.url), warning=warning)
        return await self._record_success(feed, state, result, processed, digest)

    async def _process(self, feed: FeedSettings, result: FetchResult) -> ProcessedFeed:
        """Parse, identify and match the body, away from the event loop."""
        job = FeedJob(result.body, result.url, result.content_type, feed.name, feed.url)
        return await self.processor.process(job)

    async def _record_success(
        self,
        feed: FeedSettings,
        state: FeedState,
        result: FetchResult,
        processed: ProcessedFeed | None,
        digest: str | None,
    ) -> PollOutcome:
        """Record a poll that read the feed: ``processed`` and ``digest`` (``body_digest``) are
        None when there was nothing to read (a 304, or the body read last time)."""
        now = self.clock.wall()
        items = processed.items if processed else ()
        new_items = await asyncio.to_thread(self.store.unseen, feed.url, items) if items else []
        new_alerts = self._alerts(new_items, processed, now)
        found: PollFinding = NothingToRead()
        if processed is not None and digest is not None:
            found = BodyRead(digest, len(items), len(new_items), processed.ttl_seconds)
        decision = decide_poll(_timing(feed), state, result, found, now=now, rng=self.rng)
        if decision.update.fetch_url is not None:
            logger.warning(
                "feed moved permanently",
                feed=state.name,
                old_url=redact_url(state.fetch_url),
                new_url=redact_url(decision.update.fetch_url),
            )
        commit = await self.recorder.commit(
            PollRecord(feed.url, decision.update, new_items, new_alerts, now, state.lease_token)
        )
        if commit.refused:
            return self._refused(state)
        created = [a for a in new_alerts if a.id in commit.alert_ids]
        for alert in created:
            logger.info("alert", rule=alert.rule, title=alert.item.title, link=alert.item.link)
        return PollOutcome(
            feed.name,
            feed.url,
            decision.result,
            new_items=commit.new_items,
            alerts=commit.alert_ids,
            alert_rules=tuple(a.rule for a in created),
            possible_gap=decision.update.possible_gap,
            elapsed=result.elapsed,
            bytes_read=result.bytes_read,
        )

    async def _record_failure(
        self, feed: FeedSettings, state: FeedState, result: FetchResult, kind: str
    ) -> PollOutcome:
        now = self.clock.wall()
        # Recorded as the feed's last_error, logged and shown: never with a credential in it.
        if result.error is not None:
            result = replace(result, error=self._redact(result.error))
        decision = decide_poll(
            _timing(feed), state, result, PollFailed(kind), now=now, rng=self.rng
        )
        update = decision.update
        commit = await self.recorder.commit(
            PollRecord(feed.url, update, [], [], now, state.lease_token)
        )
        if commit.refused:
            return self._refused(state)
        logger.warning(
            "poll failed",
            feed=feed.name,
            url=redact_url(state.fetch_url),
            kind=kind,
            error=result.error,
            status=update.status,
            retry_in=round(update.next_poll_at - now),
        )
        return PollOutcome(
            feed.name,
            feed.url,
            decision.result,
            error_kind=kind,
            error=result.error,
            elapsed=result.elapsed,
            bytes_read=result.bytes_read,
        )

    @staticmethod
    def _refused(state: FeedState) -> PollOutcome:
        """The poll's claim went stale (taken over while this process stood still): the
        store wrote nothing of it; the feed's new holder polls it."""
        error = "poll not recorded: the feed was taken over"
        logger.warning(error, feed=state.name)
        return PollOutcome(state.name, state.url, "error", error_kind="lease_lost", error=error)

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
