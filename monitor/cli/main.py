"""The ``monitor`` command: its arguments, and which command group's module runs."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from monitor import __version__, log
from monitor.cli import EXIT_BROKEN_PIPE, EXIT_CONFIG, EXIT_INTERRUPTED
from monitor.config import DEFAULT_CONFIG, Config, load_config, parse_duration
from monitor.errors import ConfigError, MonitorError
from monitor.redact import redact_text

_LOG_LEVELS = ["debug", "info", "warning", "error"]


def _common_options() -> argparse.ArgumentParser:
    """``-c`` and ``--log-level``, accepted after any command and action too.

    SUPPRESS: a command's parser sets them only when given there, so neither one given
    before the command is reset to its default; the last one given wins.
    """
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", type=Path, default=argparse.SUPPRESS, help="config file")
    common.add_argument(
        "--log-level", choices=_LOG_LEVELS, default=argparse.SUPPRESS, help="log verbosity"
    )
    return common


class _CommandParser(argparse.ArgumentParser):
    """The parser of a command or an action (its own actions inherit it): takes the common
    options."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs, parents=[_common_options()])


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
        "-c", "--config", type=Path, default=DEFAULT_CONFIG, help="config file (%(default)s)"
    )
    parser.add_argument(
        "--log-level", default="info", choices=_LOG_LEVELS, help="log verbosity (%(default)s)"
    )
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_CommandParser
    )

    commands.add_parser("run", help="run the daemon")

    once = commands.add_parser(
        "once",
        help="poll every feed once, deliver, print a summary",
        description="Poll every feed once, deliver, print a summary. Exits 1 when every "
        "configured feed failed (0 when only some did), 130 on Ctrl-C (undelivered alerts "
        "stay pending).",
    )
    once.add_argument(
        "--deliver-timeout",
        type=_duration_arg,
        default=15.0,
        metavar="DURATION",
        help="how long to keep retrying deliveries (%(default)ss)",
    )

    commands.add_parser("check", help="validate the config and run rule examples")

    commands.add_parser("status", help="what a running daemon and the store say")

    feeds = commands.add_parser("feeds", help="list feeds and their status; import, export")
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
    alerts.add_argument("--state", choices=["pending", "failed", "delivered", "dead"])
    alerts.add_argument("--webhook")
    alerts.add_argument("--limit", type=int, default=50)
    actions = alerts.add_subparsers(dest="action", metavar="ACTION")
    show = actions.add_parser("show", help="one alert: payload and deliveries")
    show.add_argument("alert_id")
    replay = actions.add_parser("replay", help="re-queue alerts (same webhook-id)")
    replay.add_argument("alert_id", nargs="?")
    replay.add_argument("--dead", action="store_true", help="every dead-lettered delivery")
    replay.add_argument(
        "--webhook", dest="replay_webhook", help="only this webhook (enables it if disabled)"
    )
    replay.add_argument("--since", type=_duration_arg, metavar="DURATION")

    test_rule = commands.add_parser("test-rule", help="try a query or rule on some items")
    test_rule.add_argument(
        "query",
        metavar="QUERY_OR_RULE_NAME",
        help="a configured rule's name, or a query; one word with '-' or '_' that names no "
        "rule but is close to one is an error (a misspelled name): write it as a phrase "
        "('\"...\"') to test it as a query",
    )
    source = test_rule.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", help="a piece of text (matched as an item's title)")
    source.add_argument("--file", type=Path, help="a feed file (RSS, Atom or JSON Feed)")
    source.add_argument("--url", help="a feed URL to fetch")
    source.add_argument("--since", type=_duration_arg, help="items already stored, e.g. 7d")
    test_rule.add_argument("--stem", help="Snowball stemmer for a query given inline")

    commands.add_parser("demo", help="run the whole pipeline offline on sample feeds")

    evaluate = commands.add_parser("eval", help="precision and recall on labeled items")
    evaluate.add_argument("--labels", type=Path, required=True, help="JSONL of labeled items")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    log.configure(args.log_level)
    secrets: frozenset[str] = frozenset()
    try:
        config = load_config(args.config)
        secrets = config.secret_values()
        log.hide(secrets)
        code = _dispatch(args, config)
        sys.stdout.flush()  # a closed pipe shows here, not after main returns
        return code
    except BrokenPipeError:
        # The reader (`| head`) has what it wanted. Point stdout at devnull so the flush at
        # exit cannot fail again; 141 is what a shell reports for a command killed by SIGPIPE.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except ConfigError as exc:
        _print_error(exc, secrets)
        return EXIT_CONFIG
    except MonitorError as exc:
        _print_error(exc, secrets)
        return 1
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _print_error(exc: MonitorError, secrets: frozenset[str]) -> None:
    # A store or fetch error can name a URL with its credentials (the state's password).
    print(f"error: {redact_text(str(exc), secrets)}", file=sys.stderr)


def _dispatch(args: argparse.Namespace, config: Config) -> int:
    # A command's module is imported only when it runs: each pulls in the parts it drives.
    if args.command == "check":
        from monitor.cli.rules import check

        return check(config, args.config)
    if args.command == "once":
        from monitor.cli.run import once

        return asyncio.run(once(config, args.deliver_timeout))
    if args.command == "run":
        from monitor.cli.run import daemon

        return daemon(args.config, config)
    if args.command == "feeds":
        from monitor.cli.feeds import feeds

        return feeds(config, args)
    if args.command == "status":
        from monitor.cli.run import status

        return status(config)
    if args.command == "alerts":
        from monitor.cli.alerts import alerts

        return alerts(config, args)
    if args.command == "test-rule":
        from monitor.cli.rules import try_rule

        return try_rule(config, args)
    if args.command == "demo":
        from monitor.cli.run import demo

        return demo(config, args.log_level)
    if args.command == "eval":
        from monitor.cli.rules import evaluate_labels

        return evaluate_labels(config, args.labels)
    raise AssertionError(args.command)  # argparse only lets known commands through
