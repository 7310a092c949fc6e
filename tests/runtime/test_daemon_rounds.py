"""The daemon's delivery ticks: a slow consumer never holds up a healthy one."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from monitor.config import load_config
from monitor.runtime.compose import open_app
from monitor.runtime.daemon import Daemon
from tests.deliver.consumer import FEED, Consumer, Reply, add_alerts, make_config

TICK_RETURNS = 5.0  # a tick starts a round and returns; it never waits for a consumer


def test_a_healthy_webhook_is_served_while_a_slow_one_is_busy(tmp_path: Path) -> None:
    gate = threading.Event()  # the slow consumer answers only once the test is done

    def stuck(number: int) -> Reply:
        gate.wait(30)
        return Reply()

    slow = Consumer(script=stuck)
    fast = Consumer()
    config = make_config(
        {"name": "slow", "url": slow.url(), "concurrency": 1, "timeout": 30},
        {"name": "fast", "url": fast.url()},
        state=f"sqlite:///{tmp_path}/state.db",
        feeds=[{"name": "wire", "url": FEED}],
    )

    async def scenario() -> tuple[list[str], list[str], int]:
        async with open_app(config) as app:
            daemon = Daemon(app, tmp_path / "monitor.yaml")
            first = await asyncio.to_thread(add_alerts, app.store, 1, ("slow", "fast"))
            await asyncio.wait_for(daemon.deliver_tick(), TICK_RETURNS)
            await wait_until(lambda: fast.ids() == first and slow.requests == 1)
            # The slow lane is stuck in its request; new alerts for both arrive.
            second = await asyncio.to_thread(add_alerts, app.store, 2, ("slow", "fast"), prefix="b")
            # Ticks keep coming, as the scheduler's do; a tick that lands while the fast
            # lane is still closing its first round skips it, and the next one serves it.
            await wait_until(
                lambda: fast.ids() == first + second, tick=lambda: daemon.deliver_tick()
            )
            requests_while_stuck = slow.requests
            gate.set()
            await asyncio.gather(*daemon.rounds)
            return first + second, fast.ids(), requests_while_stuck

    try:
        expected, got, while_stuck = asyncio.run(scenario())
    finally:
        gate.set()
        slow.close()
        fast.close()
    assert got == expected
    assert while_stuck == 1


async def wait_until(
    condition: Callable[[], bool],
    timeout: float = 15.0,
    tick: Callable[[], Awaitable[None]] | None = None,
) -> None:
    end = time.monotonic() + timeout
    next_tick = time.monotonic() + 0.5
    while not condition():
        assert time.monotonic() < end, "timed out"
        if tick is not None and time.monotonic() >= next_tick:
            await asyncio.wait_for(tick(), TICK_RETURNS)
            next_tick = time.monotonic() + 0.5
        await asyncio.sleep(0.02)


def test_digest_webhooks_get_a_cron_job_at_their_window_end_redone_on_reload(
    tmp_path: Path,
) -> None:
    path = tmp_path / "monitor.yaml"

    def write(digest: str) -> None:
        path.write_text(
            f"state: sqlite:///{tmp_path}/state.db\nfeeds: []\nnetwork: {{allow_private: true}}\n"
            "webhooks:\n"
            f"  - {{name: summary, url: 'http://127.0.0.1:9/hook', {digest}}}\n"
            "  - {name: each, url: 'http://127.0.0.1:9/other'}\n"
        )

    def next_fires(daemon: Daemon) -> dict[str, datetime]:
        after = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
        return {
            job.id: job.trigger.get_next_fire_time(None, after)
            for job in daemon.scheduler.get_jobs()
            if job.id.startswith("digest:")
        }

    async def scenario() -> tuple[dict[str, datetime], dict[str, datetime], dict[str, datetime]]:
        write("digest: daily, digest_at: '07:45'")
        async with open_app(load_config(path)) as app:
            daemon = Daemon(app, path)
            daemon.schedule_digests()
            daily = next_fires(daemon)
            write("digest: hourly, digest_at: '00:15'")
            await daemon.reload("test")
            hourly = next_fires(daemon)
            write("")  # no digest any more: no job
            await daemon.reload("test")
            return daily, hourly, next_fires(daemon)

    daily, hourly, none = asyncio.run(scenario())
    assert daily == {"digest:summary": datetime(2026, 11, 26, 7, 45, tzinfo=UTC)}
    assert hourly == {"digest:summary": datetime(2026, 11, 25, 10, 15, tzinfo=UTC)}
    assert none == {}


def test_an_overdue_heartbeat_holds_sends_until_the_next_beat(tmp_path: Path) -> None:
    config = make_config(
        {"name": "h", "url": "http://127.0.0.1:9/hook"}, state=f"sqlite:///{tmp_path}/s.db"
    )

    async def scenario() -> list[bool]:
        async with open_app(config) as app:
            daemon = Daemon(app, tmp_path / "monitor.yaml")
            seen = [app.sender.stalled()]
            daemon.last_beat -= 2.5 * config.cluster.heartbeat  # as after a long pause
            seen.append(app.sender.stalled())
            await daemon.heartbeat()
            seen.append(app.sender.stalled())
            return seen

    assert asyncio.run(scenario()) == [False, True, False]
