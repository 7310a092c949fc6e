"""``monitor feeds``: the feeds and their status; import, export, discover, enable."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from monitor.cli.opml import import_block, read_opml, write_opml
from monitor.cli.times import ago, span
from monitor.config import Config
from monitor.errors import ConfigError, FeedParseError
from monitor.fetch.discover import discover
from monitor.redact import redact_text, redact_url
from monitor.runtime.compose import make_fetcher
from monitor.store import Store

_FEED_STATUS = {"backoff": "backing off"}


def feeds(config: Config, args: argparse.Namespace) -> int:
    if args.action == "import":
        return _import(config, args)
    if args.action == "discover":
        return asyncio.run(_discover(config, args.url))
    store = Store(config.state)
    try:
        if args.action == "enable":
            feed = next((f for f in config.feeds if f.name == args.name), None)
            if feed is None:
                raise ConfigError(f"feeds enable: no configured feed named {args.name!r}")
            if not store.enable_feed(feed.url, time.time()):
                raise ConfigError(f"feeds enable: {args.name!r} has not been polled yet")
            print(f"{feed.name}: enabled, due now")
            return 0
        states = {s.url: s for s in store.feed_states()}
    finally:
        store.close()
    if args.action == "export":
        # A moved feed is exported at the address it moved to.
        moved = {url: s.fetch_url for url, s in states.items()}
        print(write_opml([(f.name, moved.get(f.url, f.url)) for f in config.feeds]), end="")
        return 0
    now = time.time()
    secrets = config.secret_values()
    print(
        f"{'STATUS':11} {'NAME':24} {'LAST OK':>9} {'NEXT':>12} {'EVERY':>5} {'ITEMS':>6}  "
        "LAST ERROR / URL"
    )
    for feed in config.feeds:
        s = states.get(feed.url)
        if s is None:  # configured since the last run: nothing polled yet
            print(f"{'new':11} {feed.name[:24]:24} {'never':>9} {'now':>12}")
            continue
        status = _FEED_STATUS.get(s.status, s.status)
        detail = (
            redact_url(s.fetch_url)
            if s.status == "ok" or not s.last_error
            else redact_text(s.last_error, secrets)
        )
        next_poll = "never" if s.status == "disabled" else ago(s.next_poll_at, now)
        print(
            f"{status:11} {s.name[:24]:24} {ago(s.last_success_at, now):>9} {next_poll:>12} "
            f"{span(s.current_interval):>5} {s.items_seen:>6}  {detail}"
        )
    return 0


def _import(config: Config, args: argparse.Namespace) -> int:
    try:
        data = args.opml.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{args.opml}: cannot read: {exc.strerror or exc}") from None
    subscriptions = read_opml(data, source=str(args.opml))
    text, count = import_block(
        subscriptions,
        configured_urls=[f.url for f in config.feeds],
        taken_names=[f.name for f in config.feeds],
        interval=args.interval,
    )
    if args.output is not None and count:
        args.output.write_text(text, encoding="utf-8")
    elif count:
        print(text, end="")
    where = f" to {args.output}: add it to the config's include list" if args.output else ""
    print(
        f"{count} new feed(s) of {len(subscriptions)} in {args.opml}{where}"
        f"{'' if count else ' (all already configured)'}",
        file=sys.stderr,
    )
    return 0


async def _discover(config: Config, url: str) -> int:
    async with make_fetcher(config) as fetcher:
        try:
            found = await discover(fetcher, url)
        except FeedParseError as exc:
            raise ConfigError(str(exc)) from None
    for feed in found:
        print(f"{feed.kind:6} {feed.url}  {feed.title}".rstrip())
    if not found:
        print(f"no feeds found on {url}", file=sys.stderr)
        return 1
    return 0
