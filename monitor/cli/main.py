"""The ``monitor`` command. User mistakes print one line and exit 2; no tracebacks."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from monitor import __version__, log
from monitor.config import DEFAULT_CONFIG, Config, load_config, parse_duration
from monitor.errors import ConfigError, FeedParseError, MonitorError, QuerySyntaxError, StoreError
from monitor.models import Item

EXIT_CONFIG = 2


def _config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c", "--config", type=Path, default=DEFAULT_CONFIG, help="config file (%(default)s)"
    )


def _duration_arg(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="monitor", description="news-monitor: poll feeds, match rules, deliver webhooks."
    )
    parser.add_argument("--version", action="version", version=f"news-monitor {__version__}")
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="log verbosity (%(default)s)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the daemon")
    _config_arg(run)

    once = commands.add_parser("once", help="poll every feed once, deliver, print a summary")
    _config_arg(once)
    once.add_argument(
        "--deliver-timeout",
        type=_duration_arg,
        default=15.0,
        metavar="DURATION",
        help="how long to keep retrying deliveries (%(default)ss)",
    )

    check = commands.add_parser("check", help="validate the config and run rule examples")
    _config_arg(check)

    status = commands.add_parser("status", help="what a running daemon and the store say")
    _config_arg(status)

    feeds = commands.add_parser("feeds", help="list feeds and their status; import, export")
    _config_arg(feeds)
    feed_actions = feeds.add_subparsers(dest="action", metavar="ACTION")
    feeds_import = feed_actions.add_parser(
        "import", help="OPML subscriptions -> a YAML feeds block to include in the config"
    )
    feeds_import.add_argument("opml", type=Path, metavar="FILE.opml")
    feeds_import.add_argument("-o", "--output", type=Path, help="write here, not to stdout")
    feeds_import.add_argument("--interval", help="poll interval for the imported feeds, e.g. 15m")
    feed_actions.add_parser("export", help="the configured feeds as OPML, on stdout")
    feeds_discover = feed_actions.add_parser("discover", help="find the feeds a web page links to")
    feeds_discover.add_argument("url")
    feeds_enable = feed_actions.add_parser(
        "enable", help="poll a disabled (410 Gone) or backing-off feed again now"
    )
    feeds_enable.add_argument("name")

    alerts = commands.add_parser("alerts", help="list, show and replay alerts")
    _config_arg(alerts)
    alerts.add_argument("--state", choices=["pending", "failed", "delivered", "dead"])
    alerts.add_argument("--webhook")
    alerts.add_argument("--limit", type=int, default=50)
    actions = alerts.add_subparsers(dest="action", metavar="ACTION")
    show = actions.add_parser("show", help="one alert: payload and deliveries")
    show.add_argument("alert_id")
    replay = actions.add_parser("replay", help="re-queue alerts (same webhook-id)")
    for action in (show, replay):  # -c also after the action; SUPPRESS keeps an earlier one
        action.add_argument("-c", "--config", type=Path, default=argparse.SUPPRESS)
    replay.add_argument("alert_id", nargs="?")
    replay.add_argument("--dead", action="store_true", help="every dead-lettered delivery")
    replay.add_argument(
        "--webhook", dest="replay_webhook", help="only this webhook (enables it if disabled)"
    )
    replay.add_argument("--since", type=_duration_arg, metavar="DURATION")

    test_rule = commands.add_parser("test-rule", help="try a query or rule on some items")
    _config_arg(test_rule)
    test_rule.add_argument("query", metavar="QUERY_OR_RULE_NAME")
    source = test_rule.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", help="a piece of text (matched as an item's title)")
    source.add_argument("--file", type=Path, help="a feed file (RSS, Atom or JSON Feed)")
    source.add_argument("--url", help="a feed URL to fetch")
    source.add_argument("--since", type=_duration_arg, help="items already stored, e.g. 7d")
    test_rule.add_argument("--stem", help="Snowball stemmer for a query given inline")

    demo = commands.add_parser("demo", help="run the whole pipeline offline on sample feeds")
    _config_arg(demo)

    evaluate = commands.add_parser("eval", help="precision and recall on labeled items")
    _config_arg(evaluate)
    evaluate.add_argument("--labels", type=Path, required=True, help="JSONL of labeled items")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    log.configure(args.log_level)
    try:
        return _dispatch(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (StoreError, MonitorError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    if args.command == "check":
        return _check(config, args.config)
    if args.command == "once":
        return asyncio.run(_once(config, args.deliver_timeout))
    if args.command == "run":
        from monitor.runtime.daemon import run_daemon

        return asyncio.run(run_daemon(args.config, config))
    if args.command == "feeds":
        return _feeds(config, args)
    if args.command == "status":
        return _status(config)
    if args.command == "alerts":
        return _alerts(config, args)
    if args.command == "test-rule":
        return _test_rule(config, args)
    if args.command == "demo":
        from monitor.demo import run_demo

        if args.log_level == "info":  # the demo's own output is the show
            log.configure("warning")
        return asyncio.run(run_demo(config))
    if args.command == "eval":
        return _eval(config, args.labels)
    raise AssertionError(args.command)  # argparse only lets known commands through


def _check(config: Config, path: Path) -> int:
    from monitor.cli.ruletest import check_examples
    from monitor.runtime.compose import compile_config_rules

    rules = compile_config_rules(config)
    failures = check_examples(config, rules)
    if failures:
        for failure in failures:
            print(f"error: {path}: {failure}", file=sys.stderr)
        return EXIT_CONFIG
    examples = sum(len(r.examples.match) + len(r.examples.no_match) for r in config.rules)
    hooks = ", ".join(w.name for w in config.webhooks) or "none (alerts go to the console)"
    print(f"{path}: OK")
    print(f"  state:    {config.state}")
    print(f"  feeds:    {len(config.feeds)}")
    print(f"  rules:    {len(config.rules)} ({', '.join(r.name for r in config.rules)})")
    print(f"  examples: {examples} passed")
    print(f"  webhooks: {hooks}")
    return 0


async def _once(config: Config, deliver_timeout: float) -> int:
    from monitor.runtime.compose import open_app

    async with open_app(config) as app:
        polls = await app.poll_all()
        deliveries = await app.drain_deliveries(deliver_timeout)
        counts = await asyncio.to_thread(app.store.delivery_counts)
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
    return 0


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def _ago(ts: float | None, now: float) -> str:
    if ts is None:
        return "never"
    delta = now - ts
    return f"{_span(abs(delta))} {'ago' if delta >= 0 else 'from now'}"


_FEED_STATUS = {"backoff": "backing off"}


def _feeds(config: Config, args: argparse.Namespace) -> int:
    if args.action == "import":
        return _feeds_import(config, args)
    if args.action == "discover":
        return asyncio.run(_feeds_discover(config, args.url))
    from monitor.store import Store

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
        from monitor.cli.opml import write_opml

        # A moved feed is exported at the address it moved to.
        moved = {url: s.fetch_url for url, s in states.items()}
        print(write_opml([(f.name, moved.get(f.url, f.url)) for f in config.feeds]), end="")
        return 0
    now = time.time()
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
        detail = s.fetch_url if s.status == "ok" or not s.last_error else s.last_error
        next_poll = "never" if s.status == "disabled" else _ago(s.next_poll_at, now)
        print(
            f"{status:11} {s.name[:24]:24} {_ago(s.last_success_at, now):>9} {next_poll:>12} "
            f"{_span(s.current_interval):>5} {s.items_seen:>6}  {detail}"
        )
    return 0


def _feeds_import(config: Config, args: argparse.Namespace) -> int:
    from monitor.cli.opml import import_block, read_opml

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


async def _feeds_discover(config: Config, url: str) -> int:
    from monitor.fetch.discover import discover
    from monitor.runtime.compose import make_fetcher

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


def _daemon_status(config: Config) -> dict[str, object] | None:
    import json
    import urllib.request

    from monitor.config import parse_listen

    host, port = parse_listen(config.server.listen)
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/status"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            body: dict[str, object] = json.loads(response.read())
            return body
    except (OSError, ValueError):
        return None


def _status(config: Config) -> int:
    from monitor.store import Store

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
    print(f"feeds:    {len(states)} ({summary}); next poll {_ago(next_due, now)}")
    print(
        "outbox:   "
        + ", ".join(f"{outbox.get(k, 0)} {k}" for k in ("pending", "failed", "dead"))
        + f", {outbox.get('delivered', 0)} delivered"
    )
    for name, reason in disabled.items():
        print(f"webhook {name} is disabled: {reason}")
    for inst in members:
        print(
            f"instance: {inst.id} (v{inst.version}), heartbeat {_ago(inst.heartbeat_at, now)}, "
            f"holds {inst.feeds_held} feed(s), {inst.deliveries_held} deliver(ies)"
        )
    return 0


def _alerts(config: Config, args: argparse.Namespace) -> int:
    import json

    from monitor.store import Store

    store = Store(config.state)
    try:
        now = time.time()
        if args.action == "show":
            payload = store.alert_payload(args.alert_id)
            if payload is None:
                raise ConfigError(f"no alert {args.alert_id!r}")
            print(json.dumps(payload, indent=2, ensure_ascii=False))
            for d in store.list_deliveries(alert_id=args.alert_id):
                when = {
                    "delivered": f"delivered {_ago(d.delivered_at, now)}",
                    "pending": f"next attempt {_ago(d.next_attempt_at, now)}",
                    "failed": f"next attempt {_ago(d.next_attempt_at, now)}",
                }.get(d.state, "no more attempts")
                print(
                    f"  -> {d.webhook}: {d.state}, {d.attempts} attempt(s), {when}, "
                    f"last status: {d.last_status or '-'}, last error: {d.last_error or '-'}"
                )
            return 0
        if args.action == "replay":
            if not args.alert_id and not args.dead:
                raise ConfigError("alerts replay: give an alert id or --dead")
            if args.alert_id and store.alert_payload(args.alert_id) is None:
                raise ConfigError(f"no alert {args.alert_id!r}")
            count = store.replay(
                now,
                alert_id=args.alert_id,
                state="dead" if args.dead else None,
                webhook=args.replay_webhook,
                since=now - args.since if args.since else None,
            )
            print(f"re-queued {count} deliver{'y' if count == 1 else 'ies'} (same webhook-id)")
            for name, reason in store.disabled_webhooks().items():
                if name == args.replay_webhook:  # replaying to it names it: enable it again
                    store.enable_webhook(name)
                    print(f"webhook {name!r} enabled again (was: {reason})")
                elif args.replay_webhook is None:
                    print(
                        f"warning: webhook {name!r} is disabled ({reason}); its deliveries "
                        f"wait until `alerts replay --dead --webhook {name}` enables it"
                    )
            return 0
        records = store.list_deliveries(limit=args.limit, state=args.state, webhook=args.webhook)
    finally:
        store.close()
    print(f"{'ALERT':30} {'RULE':16} {'WEBHOOK':12} {'STATE':9} {'TRIES':>5} {'CREATED':>9}  TITLE")
    for r in records:
        error = f"  [{r.last_error}]" if r.last_error and r.state != "delivered" else ""
        print(
            f"{r.alert_id:30} {r.rule[:16]:16} {r.webhook[:12]:12} {r.state:9} {r.attempts:>5} "
            f"{_ago(r.created_at, now):>9}  {r.title[:60]}{error}"
        )
    return 0


def _highlight(snippet: str) -> str:
    if sys.stdout.isatty():
        return re.sub(r"\*\*(.+?)\*\*", "\033[1;33m\\1\033[0m", snippet)
    return snippet


def _test_rule(config: Config, args: argparse.Namespace) -> int:
    from monitor.cli.ruletest import make_item
    from monitor.core.identity import identify
    from monitor.feed.parse import parse_feed
    from monitor.models import RuleSpec
    from monitor.query import compile_rules

    named = next((r for r in config.rules if r.name == args.query), None)
    spec = (
        RuleSpec(named.name, named.query, named.stem)
        if named
        else RuleSpec("query", args.query, args.stem)
    )
    try:
        rules = compile_rules([spec])
    except QuerySyntaxError as exc:
        raise ConfigError(f"{exc}\n    {exc.caret().replace(chr(10), chr(10) + '    ')}") from None
    items: list[Item]
    if args.text is not None:
        items = [make_item(title=args.text)]
    elif args.file is not None:
        try:
            body = args.file.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{args.file}: cannot read: {exc.strerror or exc}") from None
        try:
            parsed = parse_feed(body, url=args.file.resolve().as_uri())
        except FeedParseError as exc:
            raise ConfigError(f"{args.file}: {exc}") from None
        items = identify(parsed.entries, feed=args.file.name, feed_url=args.file.as_uri())
    elif args.url is not None:
        items = asyncio.run(_fetch_items(config, args.url))
    else:
        from monitor.store import Store

        store = Store(config.state)
        try:
            items = store.items_since(time.time() - args.since)
        finally:
            store.close()
    matched = 0
    for item in items:
        hits = rules.match(item)
        if not hits:
            print(f"  -    {item.title[:100]}")
            continue
        matched += 1
        print(f"  MATCH {item.title[:100]}")
        for hit in hits[0].hits:
            print(f"         {hit.field}: {_highlight(hit.snippet)}  [{', '.join(hit.terms)}]")
    print(f"{matched} of {len(items)} item(s) match {spec.name!r}")
    return 0


async def _fetch_items(config: Config, url: str) -> list[Item]:
    from monitor.core.identity import identify
    from monitor.feed.parse import parse_feed
    from monitor.runtime.compose import make_fetcher

    async with make_fetcher(config) as fetcher:
        result = await fetcher.fetch(url)
    if result.outcome != "ok":
        raise ConfigError(f"{url}: {result.error or result.outcome}")
    try:
        parsed = parse_feed(result.body, url=result.url, content_type=result.content_type)
    except FeedParseError as exc:
        raise ConfigError(f"{url}: {exc}") from None
    return list(identify(parsed.entries, feed=url, feed_url=url))


def _eval(config: Config, labels: Path) -> int:
    from monitor.cli.ruletest import evaluate, read_labels
    from monitor.runtime.compose import compile_config_rules

    labeled = read_labels(labels)
    scores = evaluate(compile_config_rules(config), labeled, [r.name for r in config.rules])
    for score in scores:
        print(
            f"{score.rule}: precision {score.precision:.2f}, recall {score.recall:.2f} "
            f"(tp {score.true_positives}, fp {score.false_positives}, "
            f"fn {score.false_negatives}, tn {score.true_negatives}; "
            f'"any" matched {score.any_matched}/{score.any_total})'
        )
        for entry in score.misses:
            print(f"  missed:      {entry.id}  {entry.item.title[:90]}")
        for entry in score.false_alarms:
            print(f"  false alarm: {entry.id}  {entry.item.title[:90]}")
    print(f"{len(labeled)} labeled item(s) from {labels}")
    return 0
