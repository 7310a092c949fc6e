"""Parsing: precedence, every operator, fields, and errors that point at the problem."""

from __future__ import annotations

import pytest

from monitor.errors import QuerySyntaxError
from monitor.query import parse_query
from monitor.query.nodes import And, Lang, Near, Not, Or, Term


@pytest.mark.parametrize(
    ("query", "canonical"),
    [
        # terms, phrases, wildcards; words are normalized like text
        ("coalition", "coalition"),
        ("Zürich", "zurich"),
        ('"part ways"', '"part ways"'),
        ("MQM-P", '"mqm p"'),
        ("party's", '"party s"'),
        ("ultimatum*", "ultimatum*"),
        ('"snap* ties"', '"snap* ties"'),
        ("mqm-p*", '"mqm p*"'),
        ("and or not near", "(and AND or AND not AND near)"),  # lowercase: words
        # implicit and explicit AND, OR, NOT and -
        ("a b", "(a AND b)"),
        ("a AND b", "(a AND b)"),
        ("a OR b", "(a OR b)"),
        ("a NOT b", "(a AND NOT b)"),
        ("a -b", "(a AND NOT b)"),
        ("a --b", "(a AND NOT NOT b)"),
        ("a -(b OR c)", "(a AND NOT (b OR c))"),
        ('a -"b c"', '(a AND NOT "b c")'),
        # precedence: NOT > NEAR > AND > OR
        ("a OR b c", "(a OR (b AND c))"),
        ("a b OR c d", "((a AND b) OR (c AND d))"),
        ("a OR b AND c OR d", "(a OR (b AND c) OR d)"),
        ("-a b", "(NOT a AND b)"),
        ("a OR b NEAR/3 c", "(a OR (b NEAR/3 c))"),
        ("a NEAR/3 b c", "((a NEAR/3 b) AND c)"),
        ("a NEAR/2 b NEAR/5 c", "((a NEAR/2 b) NEAR/5 c)"),
        ("a ONEAR/2 b", "(a ONEAR/2 b)"),
        ("(a OR b) c", "((a OR b) AND c)"),
        ("((a))", "a"),
        ("a AND (b AND c)", "(a AND b AND c)"),
        (
            '(quit OR leave OR "part ways") NEAR/6 (coalition OR alliance)',
            '((quit OR leave OR "part ways") NEAR/6 (coalition OR alliance))',
        ),
        ('("no longer" ONEAR/3 part) NEAR/6 x', '(("no longer" ONEAR/3 part) NEAR/6 x)'),
        # fields and filters
        ("title:coalition", "title:coalition"),
        ('Summary:"part ways"', 'summary:"part ways"'),
        ("title:(a OR b) c", "((title:a OR title:b) AND c)"),
        ("title:(a -b)", "(title:a AND NOT title:b)"),
        ("title:(a OR summary:b)", "(title:a OR summary:b)"),  # the inner scope wins
        ("content:a author:b category:c link:d feed:e", None),
        ("title:a NEAR/3 b", "(title:a NEAR/3 b)"),
        ("lang:ur حکومت", "(lang:ur AND حکومت)"),
        ("lang:EN x", "(lang:en AND x)"),
        ("lang:ur", "lang:ur"),
        ("lang:ur -x", "(lang:ur AND NOT x)"),
        ("(lang:en OR lang:ur) x", "((lang:en OR lang:ur) AND x)"),
    ],
)
def test_canonical_form(query: str, canonical: str | None) -> None:
    parsed = parse_query(query)
    if canonical is not None:
        assert str(parsed) == canonical
    assert parse_query(str(parsed)).root == parsed.root  # the canonical form parses back


def test_ast_shapes() -> None:
    near = parse_query('title:"Part* ways" ONEAR/4 (a OR b)').root
    assert near == Near(
        Term(("part", "ways"), (True, False), ("title",)),
        Or((Term(("a",), (False,)), Term(("b",), (False,)))),
        4,
        True,
    )
    assert parse_query("lang:ur a -b").root == And(
        (Lang("ur"), Term(("a",), (False,)), Not(Term(("b",), (False,))))
    )
    term = parse_query("  MQM-P  ").root
    assert isinstance(term, Term)
    assert (term.label, term.pos) == ("MQM-P", 2)
    phrase = parse_query('x "part  ways"').root
    assert isinstance(phrase, And)
    assert phrase.children[1].label == "part ways"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("query", "position", "message"),
    [
        ("", 0, "empty query"),
        ("   ", 0, "empty query"),
        ("(a b", 0, "'(' is never closed"),
        ("a (b OR (c)", 2, "'(' is never closed"),
        ("a b)", 3, "')' has no matching '('"),
        ("a ()", 2, "empty parentheses"),
        ('a "b c', 2, "unterminated quote"),
        ('""', 0, "empty phrase"),
        ("a OR", 2, "missing term after OR"),
        ("a OR ) b", 2, "missing term after OR"),
        ("a AND OR b", 2, "missing term after AND"),
        ("OR a", 0, "OR needs a term on its left"),
        ("AND a", 0, "AND needs a term on its left"),
        ("a NOT", 2, "missing term after NOT"),
        ("a -", 2, "'-' must be followed by a term"),
        ("a - b", 2, "'-' must be followed by a term"),
        ("a NEAR b", 2, "NEAR needs a distance in words, e.g. NEAR/5"),
        ("a NEAR/ b", 2, "NEAR needs a distance"),
        ("a ONEAR/x b", 2, "ONEAR needs a distance"),
        ("a NEAR/0 b", 7, "between 1 and 1000"),
        ("a NEAR/1001 b", 7, "between 1 and 1000"),
        ("a NEAR/3", 2, "missing term after NEAR/3"),
        ("NEAR/3 a", 0, "NEAR/3 needs a term on its left"),
        ("a NEAR/3 (b c)", 10, "NEAR/3 operands must be terms, phrases, wildcards or OR-groups"),
        ("(a OR -b) NEAR/3 c", 6, "not NOT"),
        ("lang:ur NEAR/3 c", 0, "not lang:"),
        ("title:a NEAR/3 summary:b", 8, "its sides search different fields"),
        ("foo:bar", 0, "unknown field 'foo:'"),
        ("a http://x.org", 2, "unknown field 'http:'"),
        ("title: a", 0, "missing term after 'title:'"),
        ("a title:", 2, "missing term after 'title:'"),
        ("title:-a", 6, "'title:' applies to a term, phrase or group"),
        ("title:lang:ur", 6, "applies to a term, phrase or group, not 'lang:'"),
        ("title:(lang:ur a)", 7, "lang: cannot be inside 'title:'"),
        ("lang:urdu-x", 5, "lang: takes one language code"),
        ('lang:"ur"', 5, "lang: takes one language code"),
        ("ul*timatum", 2, "'*' may only end a word"),
        ("*", 0, "'*' must end a word"),
        ("a *b", 2, "'*' must end a word"),
        ('"a * b"', 3, "'*' must end a word"),
        ("a && b", 2, "'&&' has no letters or digits (operators are AND, OR, NOT)"),
        ("NOT a", 0, "requires no term"),
        ("-a -b", 0, "requires no term"),
        ("a OR NOT b", 5, "requires no term"),
        ("a OR -b c", 5, None),  # fine: (a) OR (-b c)
        ("NOT (a OR b)", 0, "requires no term"),
    ],
)
def test_errors_point_at_the_problem(query: str, position: int, message: str | None) -> None:
    if message is None:
        parse_query(query)
        return
    with pytest.raises(QuerySyntaxError) as info:
        parse_query(query)
    err = info.value
    assert message in err.message
    assert err.position == position, err.caret()
    assert err.query == query
    assert err.caret().splitlines()[-1] == " " * position + "^"


def test_filter_only_and_negated_filters_are_allowed() -> None:
    assert str(parse_query("lang:ur")) == "lang:ur"
    assert str(parse_query("x NOT lang:ur")) == "(x AND NOT lang:ur)"
    with pytest.raises(QuerySyntaxError, match="requires no term"):
        parse_query("NOT lang:ur")


def test_keywords_inside_phrases_are_words() -> None:
    assert str(parse_query('"NOT this OR that"')) == '"not this or that"'
    assert str(parse_query('"title: x"')) == '"title x"'


@pytest.mark.parametrize(
    "query",
    [
        # the examples of the language reference (monitor/query/__init__.py)
        "coalition alliance",
        "x -sports",
        '"part ways"',
        "ultimatum*",
        "(a OR b) c",
        "quit NEAR/6 coalition",
        "quit ONEAR/6 coalition",
        'title:(a OR b) title:"a b"',
        "lang:ur",
        '"WHO chief"',
        "WHO NEAR/3 health",
        '"snap* ties"',
        '(quit OR leave OR exit* OR "part ways") NEAR/6 (coalition OR alliance)',
        '"prime minister" ONEAR/3 resign*',
        "(a NEAR/2 b) NEAR/10 c",
        "title:a NEAR/3 b",
        'link:dawn.com link:"news/pakistan"',
        "title:(quit OR leave)",
        '"10:30"',
        "lang:ur (استعفی OR علیحدگی)",
        "(lang:en OR lang:ur) coalition",
        "coalition NOT lang:en",
    ],
)
def test_reference_examples_parse(query: str) -> None:
    parse_query(query)
