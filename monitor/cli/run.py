"""``monitor run``, ``once``, ``demo`` and ``status``: the pipeline, and what it says."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import urllib.request
from pathlib import Path

from monitor import log
from monitor.cli import EXIT_INTERRUPTED
from monitor.cli.times import ago
from monitor.config import Config, parse_listen
from monitor.demo import run_demo
from monitor.errors import ConfigError
from monitor.redact import redact_text
from monitor.runtime.compose import open_app
from monitor.runtime.daemon import run_daemon
from monitor.runtime.httpserver import ListenError
from monitor.store import Store


def daemon(path: Path, config: Config) -> int:
    try:
        return asyncio.run(run_daemon(path, config))
    except ListenError as exc:
        raise ConfigError(f"server.listen: {exc}") from None


def demo(config: Config, log_level: str) -> int:
    if log_level == "info":  # the demo's own output is the show
        log.configure("warning")
    return asyncio.run(run_demo(config))


async def once(config: Config, deliver_timeout: float) -> int:
    interrupted = asyncio.current_task()
    assert interrupted is not None  # asyncio.run's main task
    asyncio.get_running_loop().add_signal_handler(signal.SIGINT, interrupted.cancel)
    try:
        async with open_app(config) as app:
            polls = await app.poll_all()
            deliveries = await app.drain_deliveries(deliver_timeout)
            counts = await asyncio.to_thread(app.store.delivery_counts)
    except asyncio.CancelledError:
        # Ctrl-C. What was not recorded stays pending for the next run. An Apprise send
        # runs in a thread nothing can cancel, which asyncio.run and the interpreter's exit
        # would both wait for, up to the webhook's timeout: leave without them.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)
    ok = sum(p.result == "ok" for p in polls)
    unchanged = sum(p.result in ("not_modified", "unchanged") for p in polls)
    failed = sum(p.result == "error" for p in polls)
    new_items = sum(p.new_items for p in polls)
    created = sum(len(p.alerts) for p in polls)
    delivered = sum(d.result == "delivered" for d in deliveries)
    pending = counts.get("pending", 0) + counts.get("failed", 0)
    print(
        f"feeds: {ok} ok, {unchanged} unchanged, {failed} failed; "
        f"new items: {new_items}; alerts created: {created}; "
        f"delivered: {delivered}; still pending: {pending}; dead: {counts.get('dead', 0)}",
        file=sys.stderr,
    )
    if polls and failed == len(polls):  # some failing is a normal day; all failing is not
        print(f"error: every feed failed ({failed} of {len(polls)})", file=sys.stderr)
        return 1
    return 0


def _daemon_status(config: Config) -> dict[str, object] | None:
    host, port = parse_listen(config.server.listen)
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/status"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            body: dict[str, object] = json.loads(response.read())
            return body
    except (OSError, ValueError):
        return None


def status(config: Config) -> int:
    live = _daemon_status(config)
    if live is None:
        print(f"daemon:   not reachable on {config.server.listen}")
    else:
        print(
            f"daemon:   running as {live['instance']}, up {live['uptime']}s; "
            f"polls {live['polls']} ({live['poll_errors']} failed), alerts {live['alerts']}, "
            f"delivered {live['delivered']}, polls in flight {live['polls_in_flight']}"
        )
    store = Store(config.state)
    try:
        states = [s for s in store.feed_states() if s.active]
        outbox = store.delivery_counts()
        disabled = store.disabled_webhooks()
        next_due = store.next_feed_due()
        members = store.instances(time.time())
    finally:
        store.close()
    by_status: dict[str, int] = {}
    for state in states:
        by_status[state.status] = by_status.get(state.status, 0) + 1
    now = time.time()
    summary = ", ".join(f"{n} {s}" for s, n in sorted(by_status.items())) or "none polled yet"
    print(f"feeds:    {len(states)} ({summary}); next poll {ago(next_due, now)}")
    print(
        "outbox:   "
        + ", ".join(f"{outbox.get(k, 0)} {k}" for k in ("pending", "failed", "dead"))
        + f", {outbox.get('delivered', 0)} delivered"
    )
    secrets = config.secret_values()  # a reason stored before redaction may hold one
    for name, reason in disabled.items():
        print(f"webhook {name} is disabled: {redact_text(reason, secrets)}")
    for inst in members:
        print(
            f"instance: {inst.id} (v{inst.version}), heartbeat {ago(inst.heartbeat_at, now)}, "
            f"holds {inst.feeds_held} feed(s), {inst.deliveries_held} deliver(ies)"
        )
    return 0
