"""The poller against a real local server and a real store: HTTP outcomes become feed states.

The clock is injected so next-poll times can be checked exactly; the network is real.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
import structlog.testing

from monitor.config import Config, FeedSettings, NetworkSettings, RuleSettings
from monitor.core.clock import Clock
from monitor.core.polling import PERMANENT_REDIRECT_POLLS
from monitor.core.schedule import JITTER
from monitor.errors import FeedParseError, StoreError
from monitor.models import (
    FeedJob,
    FeedSpec,
    FeedState,
    FeedUpdate,
    Item,
    PollCommit,
    PollOutcome,
    PollRecord,
    RuleSpec,
)
from monitor.query import compile_rules
from monitor.runtime.compose import compile_config_rules, make_fetcher
from monitor.runtime.poller import RECORD_BATCH, Poller, feed_specs
from monitor.runtime.workers import FeedThread, FeedWorkers, process_feed
from monitor.store import Store
from monitor.store.groupcommit import GroupCommit
from tests.fetch.server import Handler, Server, serving

T0 = 1_750_000_000.0


def rss(*guids: str, ttl: int | None = None) -> bytes:
    items = "".join(
        f"<item><guid>{g}</guid><title>Story {g}</title><link>https://news.test/{g}</link></item>"
        for g in guids
    )
    ttl_tag = f"<ttl>{ttl}</ttl>" if ttl else ""
    return (
        "<?xml version='1.0'?><rss version='2.0'><channel><title>t</title>"
        f"{ttl_tag}{items}</channel></rss>"
    ).encode()


@pytest.fixture
def server() -> Iterator[Server]:
    with serving() as srv:
        yield srv


@dataclass
class Harness:
    """One feed, one store, a poller on a hand-moved clock."""

    server: Server
    tmp: Path
    now: float = T0
    interval: float = 600
    outcomes: list[PollOutcome] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.config = Config(
            state=f"sqlite:///{self.tmp}/state.db",
            network=NetworkSettings(allow_private=True, timeout=2, deadline=5),
            feeds=(
                FeedSettings(
                    url=self.server.url("/feed"),
                    name="wire",
                    interval=self.interval,
                    min_interval=60,
                    max_interval=3600,
                ),
            ),
            rules=(RuleSettings(name="ultimatum", query="ultimatum"),),
        )
        self.store = Store(self.config.state)
        self.store.sync_feeds(feed_specs(self.config), self.now)
        self.processor = FeedThread(compile_config_rules(self.config))

    def poll(self, at: float | None = None) -> PollOutcome:
        self.now = self.now if at is None else at

        async def go() -> PollOutcome:
            async with make_fetcher(self.config) as fetcher:
                poller = Poller(
                    self.config,
                    self.store,
                    fetcher,
                    self.processor,
                    owner="test",
                    clock=Clock(wall=lambda: self.now),
                    rng=random.Random(1),
                )
                [state] = self.store.claim_due_feeds(
                    self.now, owner="test", lease=60, urls=[self.config.feeds[0].url]
                )
                return await poller.poll(state)

        outcome = asyncio.run(go())
        self.outcomes.append(outcome)
        return outcome

    def close(self) -> None:
        self.processor.shutdown()
        self.store.close()

    def state(self) -> FeedState:
        [state] = self.store.feed_states()
        return state

    def wait(self) -> float:
        return self.state().next_poll_at - self.now


@pytest.fixture
def harness(server: Server, tmp_path: Path) -> Iterator[Harness]:
    h = Harness(server, tmp_path)
    try:
        yield h
    finally:
        h.close()


def reply(
    status: int, body: bytes = b"", headers: dict[str, str] | None = None
) -> Callable[[Handler], None]:
    return lambda h: h.reply(status, body, headers)


def test_a_good_poll_records_items_and_schedules_within_jitter(
    server: Server, harness: Harness
) -> None:
    server.routes["/feed"] = reply(200, rss("a", "b"))
    outcome = harness.poll()
    assert (outcome.result, outcome.new_items, outcome.possible_gap) == ("ok", 2, False)
    state = harness.state()
    assert (state.status, state.items_seen, state.error_count) == ("ok", 2, 0)
    assert 600 * (1 - JITTER) <= harness.wait() <= 600 * (1 + JITTER)


def test_permanent_redirects_move_the_feed_after_three_polls_in_a_row(
    server: Server, harness: Harness
) -> None:
    server.routes["/feed"] = reply(301, headers={"Location": "/moved"})
    server.routes["/moved"] = reply(200, rss("a"))
    for n in range(1, PERMANENT_REDIRECT_POLLS):
        assert harness.poll(T0 + n).result == ("ok" if n == 1 else "unchanged")
        state = harness.state()
        assert (state.fetch_url, state.redirect_count) == (server.url("/feed"), n)
    with structlog.testing.capture_logs() as logs:
        harness.poll(T0 + PERMANENT_REDIRECT_POLLS)
    [moved] = [e for e in logs if e["event"] == "feed moved permanently"]
    assert (moved["old_url"], moved["new_url"]) == (server.url("/feed"), server.url("/moved"))
    state = harness.state()
    assert (state.fetch_url, state.redirect_count) == (server.url("/moved"), 0)
    assert state.url == server.url("/feed")  # the configured URL stays the feed's identity
    # From now on the new URL is fetched directly.
    before = len(server.paths())
    harness.poll(T0 + 10)
    assert server.paths()[before:] == ["/moved"]


@pytest.mark.parametrize("status", [302, 307])
def test_temporary_redirects_never_move_the_feed(
    server: Server, harness: Harness, status: int
) -> None:
    server.routes["/feed"] = reply(status, headers={"Location": "/elsewhere"})
    server.routes["/elsewhere"] = reply(200, rss("a"))
    for n in range(PERMANENT_REDIRECT_POLLS + 1):
        assert harness.poll(T0 + n).result == ("ok" if n == 0 else "unchanged")
    state = harness.state()
    assert (state.fetch_url, state.redirect_target) == (server.url("/feed"), None)


def test_an_interrupted_run_of_permanent_redirects_starts_counting_again(
    server: Server, harness: Harness
) -> None:
    moved = reply(308, headers={"Location": "/moved"})
    server.routes["/moved"] = reply(200, rss("a"))
    for n, route in enumerate([moved, moved, reply(200, rss("a")), moved, moved]):
        server.routes["/feed"] = route
        harness.poll(T0 + n)
    assert (harness.state().fetch_url, harness.state().redirect_count) == (
        server.url("/feed"),
        2,
    )


def test_gone_disables_the_feed_with_a_clear_status(server: Server, harness: Harness) -> None:
    server.routes["/feed"] = reply(410, b"gone")
    outcome = harness.poll()
    assert (outcome.result, outcome.error_kind) == ("error", "gone")
    state = harness.state()
    assert state.status == "disabled"
    assert "410" in (state.last_error or "")
    assert harness.store.claim_due_feeds(T0 + 10**6, owner="x", lease=60) == []


@pytest.mark.parametrize(
    ("route", "kind"),
    [
        (reply(404, b"nope"), "http_404"),
        (reply(500, b"oops"), "http_5xx"),
        (reply(503, b"busy"), "http_5xx"),
        (reply(200, b"<html><body>not a feed</body></html>"), "parse"),
    ],
)
def test_failures_back_off_exponentially_and_never_give_up(
    server: Server, harness: Harness, route: Callable[[Handler], None], kind: str
) -> None:
    server.routes["/feed"] = route
    waits = []
    for n in range(8):
        outcome = harness.poll(T0 + n * 10_000)
        assert outcome.error_kind == kind
        waits.append(harness.wait())
    state = harness.state()
    assert (state.status, state.error_count) == ("backoff", 8)
    assert state.last_error
    for n, wait in enumerate(waits):
        expected = min(600 * 2**n, 3600)
        assert expected * (1 - JITTER) <= wait <= min(expected * (1 + JITTER), 3600)
    # Recovery resets the count and the status.
    server.routes["/feed"] = reply(200, rss("a"))
    harness.poll(T0 + 10**6)
    assert (harness.state().status, harness.state().error_count) == ("ok", 0)


def test_network_errors_back_off_too(tmp_path: Path, server: Server) -> None:
    harness = Harness(server, tmp_path)
    server.shutdown()
    server.server_close()  # nothing listens on the port any more
    try:
        outcome = harness.poll()
        assert outcome.error_kind == "network"
        state = harness.state()
        assert (state.status, state.error_count) == ("backoff", 1)
    finally:
        harness.close()


@pytest.mark.parametrize(
    ("status", "retry_after", "wait"),
    [(429, "120", 120), (503, "30", 30), (429, "999999", 3600)],
)
def test_retry_after_is_honoured_exactly_and_capped(
    server: Server, harness: Harness, status: int, retry_after: str, wait: float
) -> None:
    server.routes["/feed"] = reply(status, headers={"Retry-After": retry_after})
    harness.poll()
    assert harness.wait() == wait
    assert harness.state().status == "backoff"


def test_refused_address_gets_its_own_status(tmp_path: Path, server: Server) -> None:
    harness = Harness(server, tmp_path)
    harness.config = harness.config.model_copy(
        update={"network": NetworkSettings(allow_private=False)}
    )
    try:
        outcome = harness.poll()
        assert outcome.error_kind == "refused"
        assert harness.state().status == "refused"
    finally:
        harness.close()


def test_ttl_is_a_floor_on_the_next_poll(server: Server, harness: Harness) -> None:
    server.routes["/feed"] = reply(200, rss("a", ttl=30))  # minutes
    harness.poll()
    assert 1800 * (1 - JITTER) <= harness.wait() <= 1800 * (1 + JITTER)


def test_the_body_read_last_time_is_not_parsed_again_and_keeps_its_ttl(
    server: Server, harness: Harness
) -> None:
    # Unclosed <b>: parsed leniently, with a warning logged on every parse of it.
    body = rss("a", ttl=30).replace(b"<title>t</title>", b"<title>t<b></title>")
    server.routes["/feed"] = reply(200, body)
    with structlog.testing.capture_logs() as logs:
        first = harness.poll()
        second = harness.poll(T0 + 1)
        warnings = [e for e in logs if e["event"] == "feed warning"]
    assert (first.result, first.new_items) == ("ok", 1)
    assert (second.result, second.new_items) == ("unchanged", 0)
    assert len(warnings) == 1  # the second poll parsed nothing
    assert 1800 * (1 - JITTER) <= harness.wait() <= 1800 * (1 + JITTER)  # <ttl> still a floor
    server.routes["/feed"] = reply(304)
    assert harness.poll(T0 + 2).result == "not_modified"
    assert 1800 * (1 - JITTER) <= harness.wait() <= 1800 * (1 + JITTER)  # after a 304 too
    server.routes["/feed"] = reply(200, rss("a", "b"))  # a new body is read, ttl and all
    third = harness.poll(T0 + 3)
    assert (third.result, third.new_items) == ("ok", 1)
    assert harness.wait() <= 600 * (1 + JITTER)


def test_the_same_body_with_another_content_type_is_parsed_again(
    server: Server, harness: Harness
) -> None:
    server.routes["/feed"] = reply(200, rss("a"), {"Content-Type": "application/rss+xml"})
    harness.poll()
    server.routes["/feed"] = reply(200, rss("a"), {"Content-Type": "text/xml; charset=utf-8"})
    assert harness.poll(T0 + 1).result == "ok"
    assert harness.poll(T0 + 2).result == "unchanged"


def test_cache_control_max_age_is_a_floor_capped_at_max_interval(
    server: Server, harness: Harness
) -> None:
    server.routes["/feed"] = reply(200, rss("a"), {"Cache-Control": "max-age=86400"})
    harness.poll()
    assert 3600 * (1 - JITTER) <= harness.wait() <= 3600


def test_all_new_items_count_as_a_possible_gap_and_poll_sooner(
    server: Server, harness: Harness
) -> None:
    server.routes["/feed"] = reply(200, rss("a", "b"))
    harness.poll()
    assert harness.state().current_interval == 600
    server.routes["/feed"] = reply(200, rss("c", "d", "e"))  # nothing of the last poll left
    outcome = harness.poll(T0 + 600)
    assert outcome.possible_gap
    state = harness.state()
    assert state.possible_gaps == 1
    assert state.current_interval == 300
    assert 300 * (1 - JITTER) <= harness.wait() <= 300 * (1 + JITTER)


def test_quiet_feeds_slow_down_and_busy_ones_speed_up(server: Server, harness: Harness) -> None:
    server.routes["/feed"] = reply(200, rss("a"))
    harness.poll()
    intervals = []
    for _ in range(12):  # unchanged content: no new items, for hours
        harness.poll(harness.state().next_poll_at)
        intervals.append(harness.state().current_interval)
    assert intervals == sorted(intervals)
    assert intervals[-1] == 3600  # max_interval
    guids = ["a"]
    for n in range(12):  # now five new items per poll, one old one kept
        guids = [guids[-1], *(f"{n}-{i}" for i in range(5))]
        server.routes["/feed"] = reply(200, rss(*guids))
        harness.poll(harness.state().next_poll_at)
    assert harness.state().current_interval < 600
    assert harness.state().possible_gaps == 0


def test_polls_finishing_together_share_one_transaction(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/s.db")
    urls = [f"http://feeds.test/{n}" for n in range(30)]
    store.sync_feeds([FeedSpec(u, f"f{n}", 600) for n, u in enumerate(urls)], T0)
    batches: list[int] = []
    write = store.record_polls

    def counting(polls: Sequence[PollRecord]) -> list[PollCommit]:
        batches.append(len(polls))
        return write(polls)

    store.record_polls = counting  # type: ignore[method-assign]
    recorder = GroupCommit(store.record_polls, max_batch=RECORD_BATCH)  # as the poller's
    item = Item("k", "s", "f", "", "t", "l", "", "", None)

    async def record_all() -> list[PollCommit]:
        update = FeedUpdate("ok", T0, T0 + 600, 600, 0, True)
        jobs = [
            recorder.commit(PollRecord(u, update, [replace(item, feed_url=u)], [], T0))
            for u in urls
        ]
        return list(await asyncio.gather(*jobs))

    try:
        commits = asyncio.run(record_all())
        assert [c.new_items for c in commits] == [1] * 30
        assert sum(batches) == 30
        assert len(batches) < 30  # the first write goes alone, the rest share
        assert all(s.items_seen == 1 for s in store.feed_states())
    finally:
        store.close()


def test_a_store_failure_is_an_outcome_not_an_exception(
    server: Server, harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.routes["/feed"] = reply(200, rss("a"))

    def broken(polls: Sequence[PollRecord]) -> list[PollCommit]:
        raise StoreError("disk I/O error")

    monkeypatch.setattr(harness.store, "record_polls", broken)
    outcome = harness.poll()
    assert (outcome.result, outcome.error_kind) == ("error", "store")
    assert "disk I/O error" in (outcome.error or "")


def test_a_poll_the_store_could_not_record_gives_its_feed_back_at_once(
    server: Server, harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.routes["/feed"] = reply(200, rss("a"))
    record = harness.store.record_polls
    failures = [StoreError("database or disk is full")]

    def fails_once(polls: Sequence[PollRecord]) -> list[PollCommit]:
        if failures:
            raise failures.pop()
        return record(polls)

    monkeypatch.setattr(harness.store, "record_polls", fails_once)
    assert harness.poll().error_kind == "store"
    # Given back, not held for the lease (60 s): the next tick, at the same instant, polls it.
    outcome = harness.poll()
    assert (outcome.result, outcome.new_items) == ("ok", 1)
    assert harness.state().items_seen == 1


def test_a_crash_while_processing_costs_one_poll_and_frees_the_lease(
    server: Server, harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.routes["/feed"] = reply(200, rss("a"))

    def crash(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("matcher bug")

    monkeypatch.setattr(Poller, "_process", crash)
    with structlog.testing.capture_logs() as logs:
        outcome = harness.poll()
    assert (outcome.result, outcome.error_kind) == ("error", "internal")
    assert outcome.error == "internal error: RuntimeError: matcher bug"
    assert any(entry["event"] == "poll crashed" for entry in logs)
    state = harness.state()
    assert (state.status, state.last_error_kind, state.error_count) == ("backoff", "internal", 1)
    assert harness.wait() > 0
    # The lease is released with the recorded failure: the feed is claimable once due.
    assert harness.store.claim_due_feeds(state.next_poll_at, owner="other", lease=60)


# -- worker processes: parse + identify + match in one call ---------------------------------


def _job(body: bytes) -> FeedJob:
    url = "http://127.0.0.1/feed"
    return FeedJob(body, url, "application/rss+xml", "wire", url)


def test_feed_workers_match_with_their_rules_and_take_new_rules_on_reload() -> None:
    body = (
        b"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title>"
        b"<item><guid>a</guid><title>Coalition ultimatum</title></item>"
        b"<item><guid>b</guid><title>Weather</title></item></channel></rss>"
    )
    first = [RuleSpec("ultimatum", "ultimatum")]
    workers = FeedWorkers(1, first)
    try:
        processed = asyncio.run(workers.process(_job(body)))
        assert processed == process_feed(_job(body), compile_rules(first))
        assert [[m.rule for m in found] for found in processed.matches] == [["ultimatum"], []]
        assert len(processed.items) == 2
        switch = asyncio.run(
            workers.prepare([RuleSpec("coalition", "coalition"), RuleSpec("weather", "weather")])
        )
        switch()
        processed = asyncio.run(workers.process(_job(body)))
        assert [[m.rule for m in found] for found in processed.matches] == [
            ["coalition"],
            ["weather"],
        ]
    finally:
        workers.shutdown(wait=True)


def test_feed_workers_raise_a_parse_error_as_a_value_the_poller_records() -> None:
    workers = FeedWorkers(1, [RuleSpec("any", "ultimatum")])
    try:
        with pytest.raises(FeedParseError):
            asyncio.run(workers.process(_job(b"<html><body>not a feed</body></html>")))
    finally:
        workers.shutdown(wait=True)
