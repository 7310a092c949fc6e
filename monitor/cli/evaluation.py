"""Rule authors' tools: rule examples (checked by ``monitor check``) and labeled evaluation
(``monitor eval``): precision, recall and the misses per rule. Pure, apart from reading labels.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.config import Config, ExampleItem
from monitor.errors import ConfigError
from monitor.models import Item
from monitor.query import RuleSet


def make_item(
    *,
    title: str = "",
    summary: str = "",
    content: str = "",
    link: str = "",
    feed: str = "",
    lang: str = "",
    key: str = "example",
) -> Item:
    """An Item built from loose text, for examples, labels and ``test-rule --text``."""
    return Item(
        key=key,
        story_key=key,
        feed=feed,
        feed_url="",
        title=title,
        link=link,
        summary=summary,
        content=content,
        published=None,
        lang=lang,
    )


def example_item(example: str | ExampleItem) -> Item:
    if isinstance(example, str):
        return make_item(title=example)
    return make_item(**example.model_dump())


@dataclass(frozen=True, slots=True)
class ExampleFailure:
    rule: str
    expected: str  # "match" or "no_match"
    index: int
    text: str

    def __str__(self) -> str:
        verb = "should match but does not" if self.expected == "match" else "should not match"
        return f"rule {self.rule!r}: examples.{self.expected}[{self.index}] {verb}: {self.text!r}"


def check_examples(config: Config, rules: RuleSet) -> list[ExampleFailure]:
    failures: list[ExampleFailure] = []
    for rule in config.rules:
        for expected, examples in (
            ("match", rule.examples.match),
            ("no_match", rule.examples.no_match),
        ):
            for index, example in enumerate(examples):
                matched = any(m.rule == rule.name for m in rules.match(example_item(example)))
                if matched != (expected == "match"):
                    text = example if isinstance(example, str) else example.title or example.summary
                    failures.append(ExampleFailure(rule.name, expected, index, text))
    return failures


@dataclass(frozen=True, slots=True)
class LabeledItem:
    id: str
    item: Item
    labels: Mapping[str, bool | str]  # rule -> True, False or "any"


@dataclass
class RuleScore:
    rule: str
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    true_negatives: int = 0
    any_matched: int = 0
    any_total: int = 0
    misses: list[LabeledItem] = field(default_factory=list)
    false_alarms: list[LabeledItem] = field(default_factory=list)

    @property
    def precision(self) -> float:
        flagged = self.true_positives + self.false_positives
        return self.true_positives / flagged if flagged else 1.0

    @property
    def recall(self) -> float:
        wanted = self.true_positives + self.false_negatives
        return self.true_positives / wanted if wanted else 1.0


def evaluate(
    rules: RuleSet, labeled: Iterable[LabeledItem], names: Sequence[str]
) -> list[RuleScore]:
    scores = {name: RuleScore(name) for name in names}
    for entry in labeled:
        matched = {m.rule for m in rules.match(entry.item)}
        for name, score in scores.items():
            label = entry.labels.get(name)
            hit = name in matched
            if label == "any":
                score.any_total += 1
                score.any_matched += hit
            elif label is True:
                if hit:
                    score.true_positives += 1
                else:
                    score.false_negatives += 1
                    score.misses.append(entry)
            elif label is False:
                if hit:
                    score.false_positives += 1
                    score.false_alarms.append(entry)
                else:
                    score.true_negatives += 1
    return list(scores.values())


def read_labels(path: Path) -> list[LabeledItem]:
    """Read a JSONL file of ``{"id", "title", "summary", "lang", "labels": {...}}``."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    out: list[LabeledItem] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record: Any = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{number}: invalid JSON: {exc.msg}") from None
        if not isinstance(record, dict) or not isinstance(record.get("labels"), dict):
            raise ConfigError(f"{path}:{number}: each line needs an object with a labels object")
        for rule, label in record["labels"].items():
            if label not in (True, False, "any"):
                raise ConfigError(
                    f'{path}:{number}: label for {rule!r} must be true, false or "any"'
                )
        key = str(record.get("id", number))
        item = make_item(
            title=str(record.get("title", "")),
            summary=str(record.get("summary", "")),
            content=str(record.get("content", "")),
            link=str(record.get("link", "")),
            lang=str(record.get("lang", "")),
            key=key,
        )
        out.append(LabeledItem(key, item, record["labels"]))
    return out
