"""Compiled query nodes: how a rule's AST is evaluated against a ``Document``.

Each AST node becomes an object with ``test`` (a closure: is it true for this item, as fast
as possible) and ``explain`` (the positive hits that make it true, or None). Tests run the
cheapest operand first, use set lookups where positions are not needed (``Document.present``
answers plain words and single wildcards in the default fields), and test an OR's plain words
as one set operation. Nodes usable inside NEAR (``Positional``) also give their spans, and
mark the hits that make given spans; NEAR itself is in ``monitor.query.near``. Spans and
hits built count against the rule's step budget (``Document.steps``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from monitor.query.document import Document, Span
from monitor.query.limits import SNIPPET_TOKENS
from monitor.query.nodes import DEFAULT_FIELDS, FIELDS, Term
from monitor.query.stem import STEMS
from monitor.query.vocabulary import Key

__all__ = [
    "Compiled",
    "CompiledAnd",
    "CompiledLang",
    "CompiledNot",
    "CompiledOr",
    "CompiledTerm",
    "Hit",
    "Positional",
]

# (field, first position, last position, term id)
Hit = tuple[str, int, int, int]
Test = Callable[[Document], bool]


class Compiled:
    """A compiled AST node: ``test`` (fast) and ``explain`` (hits, or None when false)."""

    cost: float
    test: Test

    def explain(self, d: Document) -> list[Hit] | None:
        raise NotImplementedError


class Positional(Compiled):
    """A node usable inside NEAR: it has positions."""

    fields: tuple[str, ...]

    def spans(self, d: Document, f: str) -> list[Span]:
        """Its distinct spans in field ``f``, ascending."""
        raise NotImplementedError

    def mark(self, d: Document, f: str, wanted: set[Span]) -> list[Hit]:
        """The hits that make those of its spans in field ``f`` that are in ``wanted``."""
        raise NotImplementedError


class CompiledTerm(Positional):
    """A word, phrase or wildcard term; ``tid`` is its index in the rule's term list."""

    def __init__(self, term: Term, tid: int, lang: str | None) -> None:
        self.tid = tid
        self.fields = term.scope
        self.lang = lang
        stem = STEMS[lang] if lang else None
        # exact words are compared as stems when the rule stems; prefixes never are
        self.elems = tuple(
            (w if p or stem is None else stem(w), p)
            for w, p in zip(term.words, term.prefix, strict=True)
        )
        self.key = (self.elems, lang)
        self.exact = tuple(w for w, p in self.elems if not p)
        # how each exact word is looked up in ``Document.present``
        self.keys: tuple[Key, ...] = tuple(
            w if lang is None else lang + "\0" + w for w in self.exact
        )
        self.prefixes = tuple(w for w, p in self.elems if p)
        # keys of ``Document.present`` that must all be there for a hit in title/summary/content
        self.need = self.keys + tuple("*\0" + p for p in self.prefixes)
        self.cost = 1.0 + (len(self.elems) - 1) * 0.5 + 2.0 * len(self.prefixes)
        # one exact word searched in the default fields: an OR can test a set of them at once
        self.plain = term.fields is None and len(self.elems) == 1 and not self.prefixes
        self.test = self._compile(term.fields is None)

    def _compile(self, default: bool) -> Test:
        lang, fields, exact, keys = self.lang, self.fields, self.exact, self.keys
        if len(self.elems) == 1 and not self.prefixes:  # a word: set lookups
            word, key = exact[0], keys[0]
            if default:
                return lambda d: key in d.present
            return lambda d: any(word in d.field(f).view(lang).set for f in fields)
        if len(self.elems) == 1:  # a wildcard: " prefix" in " tok tok "
            if default:  # ``TokenKeys`` knows every query prefix: a set lookup
                need = self.need[0]
                return lambda d: need in d.present
            needle, view = " " + self.prefixes[0], None
        elif not self.prefixes:  # a phrase: " w1 w2 " in " tok tok " (of stems if stemming)
            needle, view = " " + " ".join(exact) + " ", lang
        else:  # a phrase with wildcards: positions
            return lambda d: any(self.starts(d, f) for f in fields)
        if not default:
            return lambda d: any(needle in d.field(f).view(view).joined for f in fields)

        def search_default(d: Document) -> bool:
            if keys:  # every word must be there somewhere first: a set lookup each
                have = d.present
                for k in keys:
                    if k not in have:
                        return False
            return needle in d.default_joined(view)

        return search_default

    def starts(self, d: Document, f: str) -> list[int]:
        """Virtual positions where this term starts in field ``f`` (memoized per item: many
        rules share terms)."""
        if f in DEFAULT_FIELDS and not d.present.issuperset(self.need):
            return []
        key = (self.key, f)
        found = d.memo.get(key)
        if found is None:
            found = d.memo[key] = self._starts(d, f)
        return found

    def _starts(self, d: Document, f: str) -> list[int]:
        field = d.field(f)
        view = field.view(self.lang)
        found: list[list[int]] = []
        for w, is_prefix in self.elems:
            ps = field.occurrences(w, True) if is_prefix else view.occurrences(w)
            if not ps:
                return []
            found.append(ps)
        if len(found) == 1:
            return found[0]
        rest = [set(ps) for ps in found[1:]]
        return [p for p in found[0] if all(p + i in r for i, r in enumerate(rest, 1))]

    def spans(self, d: Document, f: str) -> list[Span]:
        last = len(self.elems) - 1
        return [(p, p + last) for p in self.starts(d, f)]

    def mark(self, d: Document, f: str, wanted: set[Span]) -> list[Hit]:
        last, tid = len(self.elems) - 1, self.tid
        return [(f, p, p + last, tid) for p in self.starts(d, f) if (p, p + last) in wanted]

    def explain(self, d: Document) -> list[Hit] | None:
        last, tid = len(self.elems) - 1, self.tid
        hits: list[Hit] = []
        found = False
        for f in self.fields:
            starts = self.starts(d, f)
            if starts:
                found = True
                # a snippet shows at most SNIPPET_TOKENS + 1 positions from its first hit, so
                # a term's later hits in a field are never shown
                shown = starts[: min(SNIPPET_TOKENS + 1, max(d.steps, 0))]
                d.steps -= len(shown)
                hits += [(f, p, p + last, tid) for p in shown]
        return hits if found else None


class CompiledAnd(Compiled):
    """AND: every child, cheapest first."""

    def __init__(self, children: list[Compiled]) -> None:
        self.children = sorted(children, key=lambda c: c.cost)
        self.cost = sum(c.cost for c in children)
        tests = tuple(c.test for c in self.children)
        if len(tests) == 2:
            a, b = tests
            self.test = lambda d: a(d) and b(d)
        else:

            def test(d: Document) -> bool:
                for t in tests:  # noqa: SIM110 - a loop is faster than all() on a generator
                    if not t(d):
                        return False
                return True

            self.test = test

    def explain(self, d: Document) -> list[Hit] | None:
        out: list[Hit] = []
        for c in self.children:
            hits = c.explain(d)
            if hits is None:
                return None
            out += hits
        return out


class CompiledOr(Positional):
    """OR. Its plain-word children (one exact word, default fields) are handled together as
    a set: big groups like ``(quit OR quits OR leave OR ...)`` cost one set operation."""

    def __init__(self, children: list[Compiled]) -> None:
        self.children = sorted(children, key=lambda c: c.cost)
        self.cost = sum(c.cost for c in children)
        self.words: dict[Key, CompiledTerm] = {}
        rest: list[Compiled] = []
        for c in self.children:
            if isinstance(c, CompiledTerm) and c.plain and c.keys[0] not in self.words:
                self.words[c.keys[0]] = c
            else:
                rest.append(c)
        self.rest = rest
        words = frozenset(self.words)
        tests = tuple(c.test for c in rest)

        def test(d: Document) -> bool:
            if words and not words.isdisjoint(d.present):
                return True
            for t in tests:  # noqa: SIM110 - a loop is faster than any() on a generator
                if t(d):
                    return True
            return False

        self.test = test
        if all(isinstance(c, Positional) for c in children):
            self.fields = tuple(
                f
                for f in FIELDS
                if any(f in c.fields for c in children)  # type: ignore[attr-defined]
            )

    def _present(self, d: Document, f: str | None) -> list[Compiled]:
        """The children worth looking at: plain words only if they occur in the item."""
        if not self.words or (f is not None and f not in DEFAULT_FIELDS):
            return self.rest
        return [self.words[w] for w in self.words.keys() & d.present] + self.rest

    def _span_children(self, d: Document, f: str) -> Iterator[Positional]:
        for c in self._present(d, f):
            assert isinstance(c, Positional)
            if f in c.fields:
                yield c

    def spans(self, d: Document, f: str) -> list[Span]:
        spans: list[Span] = self._gather(d, f)[0]
        return spans

    def mark(self, d: Document, f: str, wanted: set[Span]) -> list[Hit]:
        return [h for c in self._gather(d, f)[1] for h in c.mark(d, f, wanted)]

    def _gather(self, d: Document, f: str) -> list[Any]:
        """[its spans in field ``f``, the children that have some] (memoized per item)."""
        key = (self, f)
        gathered = d.memo.get(key)
        if gathered is None:
            found: set[Span] = set()
            having: list[Positional] = []
            for c in self._span_children(d, f):
                spans = c.spans(d, f)
                if spans:
                    having.append(c)
                    d.steps -= len(spans)
                    found.update(spans)
                    if d.steps <= 0:
                        break
            gathered = d.memo[key] = [sorted(found), having]
        return gathered

    def explain(self, d: Document) -> list[Hit] | None:
        found = [h for h in (c.explain(d) for c in self._present(d, None)) if h is not None]
        return [hit for hits in found for hit in hits] if found else None


class CompiledNot(Compiled):
    """NOT: true when the child is false; it contributes no hits."""

    def __init__(self, child: Compiled) -> None:
        self.child = child
        self.cost = child.cost
        t = child.test
        self.test = lambda d: not t(d)

    def explain(self, d: Document) -> list[Hit] | None:
        return None if self.child.test(d) else []


class CompiledLang(Compiled):
    """``lang:code``: the item's primary language subtag; it contributes no hits."""

    cost = 0.1

    def __init__(self, code: str) -> None:
        self.test = lambda d: d.lang == code

    def explain(self, d: Document) -> list[Hit] | None:
        return [] if self.test(d) else None
