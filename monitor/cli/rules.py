"""``monitor check``, ``test-rule`` and ``eval``: is the config right, and do its rules match
what they should."""

from __future__ import annotations

import argparse
import asyncio
import difflib
import re
import sys
import time
from pathlib import Path

from monitor.cli import EXIT_CONFIG
from monitor.cli.evaluation import check_examples, evaluate, make_item, read_labels
from monitor.config import Config
from monitor.core.identity import items_from_document
from monitor.errors import ConfigError, FeedParseError, QuerySyntaxError
from monitor.models import Item, RuleSpec
from monitor.query import compile_rules
from monitor.redact import redact_url
from monitor.runtime.compose import compile_config_rules, make_fetcher
from monitor.store import Store


def check(config: Config, path: Path) -> int:
    """``monitor check``: the config loaded; now every rule example must come out right."""
    rules = compile_config_rules(config)
    failures = check_examples(config, rules)
    if failures:
        for failure in failures:
            print(f"error: {path}: {failure}", file=sys.stderr)
        return EXIT_CONFIG
    if not config.rules:
        # Legal (a daemon that only collects items), but almost always a forgotten include.
        print(f"warning: {path}: no rules: nothing will alert", file=sys.stderr)
    examples = sum(len(r.examples.match) + len(r.examples.no_match) for r in config.rules)
    hooks = ", ".join(w.name for w in config.webhooks) or "none (alerts go to the console)"
    print(f"{path}: OK")
    print(f"  state:    {redact_url(config.state)}")
    print(f"  feeds:    {len(config.feeds)}")
    print(f"  rules:    {len(config.rules)} ({', '.join(r.name for r in config.rules)})")
    print(f"  examples: {examples} passed")
    print(f"  webhooks: {hooks}")
    return 0


def _highlight(snippet: str) -> str:
    if sys.stdout.isatty():
        return re.sub(r"\*\*(.+?)\*\*", "\033[1;33m\\1\033[0m", snippet)
    return snippet


def try_rule(config: Config, args: argparse.Namespace) -> int:
    """``monitor test-rule``: a query or a configured rule on text, a feed or stored items."""
    named = next((r for r in config.rules if r.name == args.query), None)
    if named is None:
        _refuse_a_rule_name(args.query, [r.name for r in config.rules])
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
        uri = args.file.resolve().as_uri()
        try:
            document = items_from_document(body, url=uri, feed=args.file.name, feed_url=uri)
        except FeedParseError as exc:
            raise ConfigError(f"{args.file}: {exc}") from None
        items = list(document.items)
    elif args.url is not None:
        items = asyncio.run(_fetch_items(config, args.url))
    else:
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


# One word of name characters with a '-' or '_' in it is how rule names are written: when no
# rule has it but one is close, it is far likelier a misspelled name than a query. A word
# close to no rule (``covid-19``) is run as the query it is.
_RULE_NAME = re.compile(r"[\w-]*[-_][\w-]*")


def _refuse_a_rule_name(query: str, names: list[str]) -> None:
    if not _RULE_NAME.fullmatch(query):
        return
    close = difflib.get_close_matches(query, names, n=1)
    if close:
        raise ConfigError(
            f"no rule named {query!r} (did you mean {close[0]!r}?); "
            "write it as a phrase ('\"...\"') to test it as a query"
        )


async def _fetch_items(config: Config, url: str) -> list[Item]:
    async with make_fetcher(config) as fetcher:
        result = await fetcher.fetch(url)
    if result.outcome != "ok":
        raise ConfigError(f"{redact_url(url)}: {result.error or result.outcome}")
    try:
        document = items_from_document(
            result.body, url=result.url, content_type=result.content_type, feed=url, feed_url=url
        )
    except FeedParseError as exc:
        raise ConfigError(f"{redact_url(url)}: {exc}") from None
    return list(document.items)


def evaluate_labels(config: Config, labels: Path) -> int:
    """``monitor eval``: precision and recall of the configured rules on labeled items."""
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
