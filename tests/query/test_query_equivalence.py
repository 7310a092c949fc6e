"""The compiled RuleSet (prefilter, closures, substring search, memo) against a plain evaluator.

The reference below reads the definitions in ``monitor.query`` literally: token lists per field
value, loops over positions. Queries and items are generated from a small vocabulary so that
terms, phrases, wildcards and proximity all hit often.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from monitor.errors import QuerySyntaxError
from monitor.models import Item, RuleSpec
from monitor.query import compile_rules, parse_query, tokenize
from monitor.query.document import link_text
from monitor.query.nodes import And, Lang, Near, Node, Not, Or, Term, near_fields
from monitor.query.stem import stemmer

# --- the reference evaluator --------------------------------------------------------------

Span = tuple[int, int, int]  # value index, first position, last position


def field_values(item: Item, field: str) -> Sequence[str]:
    if field == "author":
        return item.authors
    if field == "category":
        return item.categories
    if field == "link":
        return [link_text(item.link)] if item.link else []
    if field == "feed":
        return [item.feed] if item.feed else []
    return [getattr(item, field)]


class Reference:
    def __init__(self, item: Item, stem: str | None) -> None:
        self.item = item
        self.stem: Callable[[str], str] = stemmer(stem) if stem else (lambda w: w)
        self.stemmed = stem is not None

    def tokens(self, field: str) -> list[list[str]]:
        return [tokenize(v) for v in field_values(self.item, field)]

    def word_matches(self, token: str, word: str, prefix: bool) -> bool:
        if prefix:
            return token.startswith(word)
        return self.stem(token) == self.stem(word)

    def spans(self, node: Node, field: str) -> list[Span]:
        if isinstance(node, Term):
            if field not in node.scope:
                return []
            found = []
            for k, toks in enumerate(self.tokens(field)):
                n = len(node.words)
                for i in range(len(toks) - n + 1):
                    if all(
                        self.word_matches(toks[i + j], node.words[j], node.prefix[j])
                        for j in range(n)
                    ):
                        found.append((k, i, i + n - 1))
            return found
        if isinstance(node, Or):
            return [s for c in node.children for s in self.spans(c, field)]
        if isinstance(node, Near):
            out = []
            for ka, sa, ea in self.spans(node.left, field):
                for kb, sb, eb in self.spans(node.right, field):
                    if ka != kb:
                        continue
                    if ea < sb and sb - ea <= node.distance:
                        out.append((ka, sa, eb))
                    elif not node.ordered and eb < sa and sa - eb <= node.distance:
                        out.append((ka, sb, ea))
            return out
        raise TypeError(node)

    def eval(self, node: Node) -> bool:
        if isinstance(node, And):
            return all(self.eval(c) for c in node.children)
        if isinstance(node, Or):
            return any(self.eval(c) for c in node.children)
        if isinstance(node, Not):
            return not self.eval(node.child)
        if isinstance(node, Lang):
            return self.item.lang.replace("_", "-").split("-")[0].lower() == node.code
        if isinstance(node, Term):
            return any(self.spans(node, f) for f in node.scope)
        if isinstance(node, Near):
            return any(self.spans(node, f) for f in near_fields(node))
        raise TypeError(node)


# --- generators ---------------------------------------------------------------------------

WORDS = ["alpha", "beta", "coalition", "quit", "quits", "zurich", "part"]
TEXT_WORDS = [*WORDS, "Zürich", "ALPHA", "Coalitions", "ways", "Quit’s", "part-ways", "quitting"]
SEPARATORS = [" ", " ", " ", ", ", " - ", "\n", "; "]
FIELDS = ["title", "summary", "content", "author"]


@st.composite
def texts(draw: st.DrawFn) -> str:
    words = draw(st.lists(st.sampled_from(TEXT_WORDS), max_size=16))
    out = ""
    for w in words:
        out += w + draw(st.sampled_from(SEPARATORS))
    return out


def term() -> st.SearchStrategy[str]:
    word = st.sampled_from(WORDS)
    prefix = st.sampled_from(["qui*", "coal*", "al*", "zur*", "bet*"])
    phrase = st.lists(st.sampled_from([*WORDS, "qu*", "way*"]), min_size=2, max_size=3).map(
        lambda ws: '"' + " ".join(ws) + '"'
    )
    hyphen = st.sampled_from(["part-ways", "quit-coalition"])
    return st.one_of(word, word, prefix, phrase, hyphen)


def span_expr(depth: int) -> st.SearchStrategy[str]:
    if depth <= 0:
        return term()
    sub = span_expr(depth - 1)
    ors = st.lists(sub, min_size=2, max_size=3).map(lambda xs: "(" + " OR ".join(xs) + ")")
    near = st.tuples(sub, st.sampled_from(["NEAR", "ONEAR"]), st.integers(1, 4), sub).map(
        lambda t: f"({t[0]} {t[1]}/{t[2]} {t[3]})"
    )
    return st.one_of(term(), ors, near)


def expr(depth: int) -> st.SearchStrategy[str]:
    if depth <= 0:
        return st.one_of(term(), term(), st.sampled_from(["lang:en", "lang:ur"]))
    sub = expr(depth - 1)
    return st.one_of(
        term(),
        span_expr(2),
        span_expr(2),
        st.tuples(st.sampled_from(FIELDS), span_expr(1)).map(lambda t: f"{t[0]}:({t[1]})"),
        st.lists(sub, min_size=2, max_size=3).map(lambda xs: "(" + " ".join(xs) + ")"),
        st.lists(sub, min_size=2, max_size=3).map(lambda xs: "(" + " AND ".join(xs) + ")"),
        st.lists(sub, min_size=2, max_size=3).map(lambda xs: "(" + " OR ".join(xs) + ")"),
        sub.map(lambda x: f"-{x}" if not x.startswith("-") else x),
        sub.map(lambda x: f"NOT {x}"),
    )


def queries() -> st.SearchStrategy[str]:
    return expr(2)


@st.composite
def items(draw: st.DrawFn) -> Item:
    fields: dict[str, Any] = {f: draw(texts()) for f in ("title", "summary", "content")}
    return Item(
        key="k",
        story_key="s",
        feed=draw(st.sampled_from(["", "Alpha Wire"])),
        feed_url="u",
        link=draw(st.sampled_from(["", "https://alpha.example/coalition/quit"])),
        published=None,
        authors=tuple(draw(st.lists(texts(), max_size=2))),
        categories=tuple(draw(st.lists(st.sampled_from(WORDS), max_size=2))),
        lang=draw(st.sampled_from(["", "en", "en-GB", "ur", "UR-pk"])),
        **fields,
    )


def parses(query: str) -> bool:
    try:
        parse_query(query)
    except QuerySyntaxError:
        return False
    return True


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(queries(), st.sampled_from([None, None, "english"])), min_size=1, max_size=6
    ),
    st.lists(items(), min_size=1, max_size=4),
)
def test_ruleset_equals_reference(rules: list[tuple[str, str | None]], batch: list[Item]) -> None:
    rules = [(q, s) for q, s in rules if parses(q)]
    assume(rules)
    specs = [RuleSpec(f"r{i}", q, s) for i, (q, s) in enumerate(rules)]
    ruleset = compile_rules(specs)
    for it in batch:
        expected = [
            spec.name
            for spec in specs
            if Reference(it, spec.stem).eval(parse_query(spec.query).root)
        ]
        found = ruleset.match(it)
        assert [m.rule for m in found] == expected
        event(f"{len(expected)} of {len(specs)} rules match")
        for spec in specs:
            if "NEAR/" in spec.query:
                event("NEAR rule matches" if spec.name in expected else "NEAR rule does not")
        for m in found:
            for hit in m.hits:
                assert hit.terms, hit
                assert "**" in hit.snippet, hit


@settings(max_examples=100, deadline=None)
@given(queries())
def test_canonical_form_round_trips(query: str) -> None:
    assume(parses(query))
    parsed = parse_query(query)
    assert parse_query(str(parsed)).root == parsed.root


@settings(max_examples=150, deadline=None)
@given(
    st.tuples(st.sampled_from(["", "title:", "author:"]), span_expr(2)).map("".join),
    st.sampled_from([None, "english"]),
    items(),
)
def test_proximity_equals_reference(query: str, stem: str | None, it: Item) -> None:
    assume(parses(query))
    expected = Reference(it, stem).eval(parse_query(query).root)
    event("matches" if expected else "does not match")
    found = compile_rules([RuleSpec("r", query, stem)]).match(it)
    assert bool(found) is expected
