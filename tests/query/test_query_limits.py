"""Limits: no query or item can stall matching (issue 18).

Compile time: too long, too many terms, too deep, too many NEARs are one-line
``QuerySyntaxError``s, found without recursing (any input size). Match time: chained NEARs
over hostile items do bounded work (counted span pairs, tracemalloc peak), each rule within
its own budget.
"""

from __future__ import annotations

import random
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.cli.evaluation import make_item
from monitor.config import load_config
from monitor.errors import QuerySyntaxError
from monitor.models import FieldHit, RuleSpec
from monitor.query import RuleSyntaxError, compile_rules, near, parse_query
from monitor.query.limits import (
    MAX_DEPTH,
    MAX_NEAR_OPERATORS,
    MAX_QUERY_CHARS,
    MAX_RULE_STEPS,
    MAX_TERMS,
)
from monitor.runtime.compose import compile_config_rules

FIVE_CHAINED = " NEAR/10 ".join(["(a OR b)"] * 6)


def chained(n: int, op: str = "NEAR/1") -> str:
    return f" {op} ".join(["a"] * (n + 1))


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("(" * 100_000 + "a" + ")" * 100_000, "query too long: 200,001 characters"),
        ("a OR " * 100_000 + "a", "query too long"),
        ("a " * (MAX_QUERY_CHARS // 2 + 1), "query too long"),
        ("(" * 30_000 + "a" + ")" * 30_000, f"more than {MAX_DEPTH} levels"),
        ("(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1), "nested too deeply"),
        ("NOT " * 10_000 + "a", "nested too deeply"),
        ("x " + "-" * 20_000 + "a", "nested too deeply"),
        ("(NOT " * 20 + "a" + ")" * 20 + " b", "nested too deeply"),
        ("a OR " * 5_000 + "a", f"too many terms (at most {MAX_TERMS})"),
        ('"a b" ' * (MAX_TERMS + 1), "too many terms"),
        (chained(5_000), "too many NEARs in one proximity expression"),
        (chained(MAX_NEAR_OPERATORS + 1, "ONEAR/3"), "too many NEARs"),
        # the NEARs inside operands count towards the expression's
        ("a" + " NEAR/1 (b NEAR/1 c)" * 9, "too many NEARs"),
        ("(a NEAR/1 b OR c NEAR/1 d) NEAR/2 " * 6 + "e", "too many NEARs"),
    ],
)
def test_past_a_limit_is_a_one_line_syntax_error(query: str, message: str) -> None:
    with pytest.raises(QuerySyntaxError) as err:
        parse_query(query)
    assert message in str(err.value)
    assert "\n" not in str(err.value)
    with pytest.raises(RuleSyntaxError) as rule_err:
        compile_rules([RuleSpec("hostile", query)])
    assert str(rule_err.value).startswith("rule 'hostile': ")
    assert "\n" not in str(rule_err.value)


@pytest.mark.parametrize(
    "query",
    [
        "(" * MAX_DEPTH + "a" + ")" * MAX_DEPTH,
        "NOT " * (MAX_DEPTH - 1) + "(a OR b) a",
        chained(MAX_NEAR_OPERATORS),
        "a OR " * (MAX_TERMS - 1) + "a",
        # separate proximity expressions each have their own count
        " OR ".join([f"({chained(MAX_NEAR_OPERATORS)})"] * 3),
        "x" * MAX_QUERY_CHARS,
    ],
)
def test_at_a_limit_compiles(query: str) -> None:
    ruleset = compile_rules([RuleSpec("r", query)])
    assert ruleset.match(make_item(content="x a b a"), explain=True) is not None


def _words(n: int, vocabulary: str = "a b c", seed: int = 18) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(vocabulary.split()) for _ in range(n))


class _CountedPairs:
    """Counts the span pairs every NEAR search yields."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        inner = near._pairs

        def counted(*args: Any) -> Iterator[Any]:
            for pair in inner(*args):
                self.count += 1
                yield pair

        monkeypatch.setattr(near, "_pairs", counted)


@pytest.mark.parametrize(
    "text",
    [
        _words(1_000),  # the trial's 1,000 words: 39 s and 2.9 GB before
        (_words(8_000) + " ")[: 47 * 1024],  # the trial's 47 KB item: 17.4 s and 2.28 GB
        (_words(24_000, "a b") + " ")[: 47 * 1024],  # nothing but operand words
    ],
)
def test_chained_near_over_a_hostile_item_is_bounded(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pairs = _CountedPairs(monkeypatch)
    ruleset = compile_rules([RuleSpec("five", FIVE_CHAINED)])
    tracemalloc.start()
    try:
        found = ruleset.match(make_item(title=text[:300], summary=text[:3000], content=text))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert pairs.count <= MAX_RULE_STEPS
    assert peak < 50 * 1024 * 1024
    # a rule that is true near the start still matches, and explains what it shows
    assert [m.rule for m in found] == ["five"]
    assert found[0].hits[0].field == "title"
    assert "**" in found[0].hits[0].snippet


def test_each_rule_has_its_own_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    pairs = _CountedPairs(monkeypatch)
    hostile = [RuleSpec(f"hostile{i}", FIVE_CHAINED.replace("10", "1000")) for i in range(3)]
    legit = RuleSpec("legit", "quit ONEAR/3 coalition")
    ruleset = compile_rules([*hostile, legit])
    text = _words(8_000, "a b") + " the party will quit the coalition"
    found = ruleset.match(make_item(content=text))
    assert pairs.count <= 4 * MAX_RULE_STEPS
    assert found[-1].rule == "legit"
    [hit] = found[-1].hits
    assert hit.terms == ("quit", "coalition")
    assert hit.snippet.endswith(" a the party will **quit** the **coalition**")


def test_shipped_rules_over_a_dense_item_stay_exact() -> None:
    """Real rules on an item made of their own words: bounded, and still matching."""
    vocabulary = (
        "the coalition party government quit leave partner ally alliance withdraw support "
        "ultimatum deadline threatens walk out resign minister cabinet prime"
    )
    config = Path(__file__).resolve().parents[2] / "config" / "monitor.yaml"
    ruleset = compile_config_rules(load_config(config, env={}))
    found = ruleset.match(make_item(content=_words(8_000, vocabulary)))
    assert {m.rule for m in found} == {"coalition-exit", "ultimatum"}


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        (
            "(a OR b) NEAR/2 (a OR b) NEAR/2 c",
            "x a b y c z a q q q q c b a",
            FieldHit(
                "content", "x **a** **b** y **c** z a q q q q **c** **b** **a**", ("a", "b", "c")
            ),
        ),
        (
            "(quit OR leave) ONEAR/3 (coalition OR alliance) NEAR/5 (party OR ppp)",
            "The party may leave; the alliance stays. Later the party will quit and the "
            "coalition ends.",
            FieldHit(
                "content",
                "The **party** may **leave**; the **alliance** stays. Later the **party** will "
                "**quit** and the **coalition** ends.",
                ("quit", "leave", "coalition", "alliance", "party"),
            ),
        ),
    ],
)
def test_chained_near_explain_marks_every_occurrence_used(
    query: str, text: str, expected: FieldHit
) -> None:
    found = compile_rules([RuleSpec("r", query)]).match(make_item(content=text))
    assert found[0].hits == (expected,)


_WORDS = ["a", "b", "c*", '"a b"', "title:a", "lang:en", "x"]
_OPERATORS = ["OR", "AND", "NOT", "-", "NEAR/3", "ONEAR/1", "NEAR/0", "NEAR", "(", ")"]


@st.composite
def queries(draw: st.DrawFn) -> str:
    """Token soups and deep nests of words, operators and parentheses."""
    soup = draw(st.lists(st.sampled_from(_WORDS + _OPERATORS), min_size=1, max_size=40))
    depth = draw(st.integers(0, 3 * MAX_DEPTH))
    chain = draw(st.integers(0, 2 * MAX_NEAR_OPERATORS))
    shape = draw(st.sampled_from(["soup", "nest", "chain", "not"]))
    body = " ".join(soup)
    if shape == "nest":
        return "(" * depth + body + ")" * depth
    if shape == "chain":
        return " NEAR/2 ".join([f"({body})"] * (chain + 1))
    if shape == "not":
        return "NOT " * depth + body + " a"
    return body


@settings(max_examples=300, deadline=None)
@given(
    query=queries(),
    text=st.lists(st.sampled_from(["a", "b", "c", "cc", "x", "y"]), max_size=300).map(" ".join),
)
def test_random_queries_compile_or_fail_with_a_syntax_error(query: str, text: str) -> None:
    try:
        ruleset = compile_rules([RuleSpec("r", query)])
    except QuerySyntaxError:
        return  # the only error a query may raise
    for m in ruleset.match(make_item(title=text[:40], content=text, lang="en")):
        assert m.rule == "r"


@pytest.mark.parametrize(
    ("query", "position", "shown", "indent"),
    [
        ("a AND (b OR", 11, "a AND (b OR", 11),  # short: whole, as before
        ("x" * 200, 100, "…" + "x" * 76 + "…", 39),  # the middle of a long query
        ("x" * 200, 3, "x" * 76 + "…", 3),  # near the start
        ("x" * 200, 199, "…" + "x" * 76, 76),  # near the end
    ],
)
def test_the_caret_shows_a_window_of_a_long_query(
    query: str, position: int, shown: str, indent: int
) -> None:
    line, caret = QuerySyntaxError("bad", query, position).caret().split("\n")
    assert line == shown
    assert caret == " " * indent + "^"
