"""The compiled rule set: one multi-pattern pass per item, then only the rules it points at.

How ``RuleSet.match(item)`` works:

1. The item is normalized and tokenized once (``_Doc``): title, summary and content eagerly,
   other fields (author, category, link, feed) when a rule asks. Everything else is built on
   first use and shared by all rules: the set of distinct tokens, each field's
   ``" tok tok "`` string (phrases and wildcards are substring searches in it, positions are
   counted from it), per-field token sets, stemmed views, and a memo of term positions.
2. At compile time every rule gets *anchors*: a set of words such that the rule cannot match
   unless one of them occurs in the item. ``a b`` needs the cheaper side; ``a OR b`` needs
   both sides' anchors; a phrase needs one of its words; ``NOT`` adds none; ``lang:xx`` is an
   anchor of last resort (the item's language, ``=\0xx``, priced above any word). Words
   are priced by a guess at how common they are (``_word_cost``: function words and common
   news words, length, capitals in the query, wildcards) and the cheapest sufficient set wins.
   A rule with no anchor (only wildcards shorter than 3 letters, only a negation) is
   evaluated for every item; ``lang:ur`` or ``lang:de zw*`` only for items in that language.
3. The anchors are found with one dictionary lookup per token, in C: a cache per RuleSet
   maps each token it has seen to the frozenset of query words, stems and wildcard prefixes
   that token satisfies (filled on first sight, cleared past 300k entries; the many tokens
   that satisfy none share one empty frozenset, so an item yields a handful of distinct
   sets). Their union (``_Doc.present``) names the candidate rules, evaluated in
   configuration order, and answers their plain word and single-wildcard tests too (every
   query prefix is in the cache's vocabulary). This replaced a pyahocorasick pass over the
   joined tokens: since items are tokenized anyway, whole-word lookups are cheaper than an
   automaton pass, and stems come out of the same cache instead of stemming every token.
4. A candidate is evaluated by closures compiled from its AST: cheapest operand first,
   set lookups where positions are not needed, an OR's plain words as one set operation,
   NEAR only when both sides occur, over sorted positions.
5. A matching rule is explained: the positive terms of the satisfied branches (for a NEAR,
   only the occurrences within the distance) are placed in the original text. Offsets come
   from the normalized text when it is aligned with the original (ASCII, most Latin-1, Arabic
   script with harakat), from a word-by-word pass otherwise.

Positions of different values of a multi-valued field (two authors) are kept
``2**GAP_BITS`` apart, so proximity and phrases never span two values.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain, repeat
from typing import Any

from monitor.errors import QuerySyntaxError
from monitor.models import FieldHit, Item, RuleMatch, RuleSpec
from monitor.query.frequent import COMMON_WORDS, FUNCTION_WORDS
from monitor.query.parse import (
    DEFAULT_FIELDS,
    FIELDS,
    And,
    Lang,
    Near,
    Node,
    Not,
    Or,
    Query,
    Term,
    near_fields,
    parse_query,
)
from monitor.query.text import (
    Kept,
    link_text,
    stemmer,
    token_offsets,
    tokenize_keep,
    tokenize_lazy,
    tokenize_spans,
)

__all__ = ["RuleSet", "RuleSyntaxError", "compile_rules"]

GAP_BITS = 20  # values of a multi-valued field are 2**20 positions apart
SNIPPET_WIDTH = 160
MIN_PREFIX_ANCHOR = 3  # shorter wildcard prefixes are not used as anchors
LANG_COST = 40.0  # a language as an anchor: only when the rule has no better one

# (field, first position, last position, term id)
Hit = tuple[str, int, int, int]
Span = tuple[int, int]
PSpan = tuple[int, int, tuple[Hit, ...]]
Test = Callable[["_Doc"], bool]


class RuleSyntaxError(QuerySyntaxError):
    """A rule's query does not compile; ``rule`` names it and the message starts with it."""

    def __init__(self, rule: str, message: str, query: str, position: int) -> None:
        super().__init__(f"rule {rule!r}: {message}", query, position)
        self.rule = rule


# --- the item, prepared once --------------------------------------------------------------


class _Field:
    """One field of one item: its values, their tokens, and indexes built on first use.

    Word positions are found by substring search in ``joined`` (``" tok tok "``) and counting
    the spaces before each hit, both in C; a multi-valued field (authors) keeps a position
    dict instead, its values ``2**GAP_BITS`` positions apart.
    """

    __slots__ = (
        "_joined",
        "_locators",
        "_occ",
        "_pos",
        "_set",
        "_views",
        "groups",
        "kept",
        "values",
    )

    def __init__(
        self,
        values: tuple[str, ...],
        groups: list[list[str]],
        kept: list[Kept | None] | None = None,
    ) -> None:
        self.values = values
        self.groups = groups  # tokens of each value
        self.kept = kept  # how each value was tokenized (to find offsets), if known
        self._set: set[str] | None = None
        self._joined: str | None = None
        self._occ: dict[str, list[int]] = {}
        self._pos: dict[str, list[int]] | None = None
        self._views: dict[str, _Field] | None = None
        self._locators: dict[int, Callable[[Iterable[int]], dict[int, Span]] | None] | None = None

    @classmethod
    def of(cls, values: tuple[str, ...]) -> _Field:
        kept = [tokenize_keep(v) for v in values]
        return cls(values, [k.tokens for k in kept], [*kept])

    @classmethod
    def single(cls, text: str) -> _Field:
        tokens, kept = tokenize_lazy(text)  # ``kept`` is made when explaining, if not here
        return cls((text,), [tokens], [kept])

    @property
    def set(self) -> set[str]:
        if self._set is None:
            self._set = set().union(*self.groups)
        return self._set

    @property
    def joined(self) -> str:
        """``" tok tok "``, values separated by NUL, for phrase search by substring."""
        if self._joined is None:
            self._joined = " " + " \x00 ".join(" ".join(g) for g in self.groups) + " "
        return self._joined

    def occurrences(self, word: str, prefix: bool = False) -> list[int]:
        """Ascending virtual positions of ``word`` (of a word starting with it if ``prefix``)."""
        key = word + "*" if prefix else word
        found = self._occ.get(key)
        if found is not None:
            return found
        if len(self.groups) == 1:
            joined = self.joined
            needle = " " + word if prefix else " " + word + " "
            found = []
            index, at = 0, 0
            hit = joined.find(needle)
            while hit >= 0:
                index += joined.count(" ", at, hit)
                found.append(index)
                at = hit
                hit = joined.find(needle, hit + len(needle) - 1)
        elif prefix:
            pos = self.pos
            found = sorted(p for tok in self.set if tok.startswith(word) for p in pos[tok])
        else:
            found = self.pos.get(word, [])
        self._occ[key] = found
        return found

    @property
    def pos(self) -> dict[str, list[int]]:
        """token -> ascending virtual positions (value index << GAP_BITS | token index)."""
        if self._pos is None:
            pos: dict[str, list[int]] = {}
            for k, group in enumerate(self.groups):
                for i, tok in enumerate(group, k << GAP_BITS):
                    lst = pos.get(tok)
                    if lst is None:
                        pos[tok] = [i]
                    else:
                        lst.append(i)
            self._pos = pos
        return self._pos

    def view(self, lang: str | None) -> _Field:
        """This field with every token replaced by its stem (``lang``), or itself."""
        if lang is None:
            return self
        if self._views is None:
            self._views = {}
        view = self._views.get(lang)
        if view is None:
            stem = _STEMS[lang]
            groups = [list(map(stem, g)) for g in self.groups]
            view = self._views[lang] = _Field(self.values, groups)
        return view

    def char_spans(self, k: int, indexes: Iterable[int]) -> dict[int, Span] | None:
        """Character spans of some tokens (by index) of value ``k``, or None if the tokens
        cannot be placed in the text."""
        if self._locators is None:
            self._locators = {}
        if k not in self._locators:
            self._locators[k] = self._locator(k)
        locate = self._locators[k]
        return None if locate is None else locate(indexes)

    def _locator(self, k: int) -> Callable[[Iterable[int]], dict[int, Span]] | None:
        text, tokens = self.values[k], self.groups[k]
        if self.kept is not None:
            kept = self.kept[k] or tokenize_keep(text)
            offsets = token_offsets(text, kept) if kept.tokens == tokens else None
            if offsets is not None:
                return offsets
        found, spans = tokenize_spans(text)  # slow path: word by word
        if found != tokens:
            return None
        return lambda indexes: {i: spans[i] for i in indexes}


def _primary_lang(tag: str) -> str:
    return tag.strip().replace("_", "-").split("-", 1)[0].lower()


def _field_values(item: Item, name: str) -> tuple[str, ...]:
    if name == "author":
        return item.authors
    if name == "category":
        return item.categories
    if name == "link":
        return (link_text(item.link),) if item.link else ()
    if name == "feed":
        return (item.feed,) if item.feed else ()
    return (getattr(item, name),)


_STEMS: dict[str, Callable[[str], str]] = {}


# A query word ("word"), a stem ("english\0stem"), a wildcard prefix ("*\0prefix") or a
# language ("=\0ur"): strings, whose hashes Python caches (tokens never hold a NUL).
Key = str


class _TokenKeys:
    """token -> the keys of the rule set's vocabulary it satisfies, computed on first sight.

    The vocabulary is every exact query word (stemmed, as ``lang\0stem``, for stemming
    rules) and every wildcard prefix (``*\0prefix``). Nearly all tokens
    satisfy none and share one empty frozenset, so an item's lookups (``present``) collect a
    handful of distinct frozensets, in C, and union them. Bounded: cleared when full.
    """

    MAX = 300_000
    NONE: frozenset[Key] = frozenset()
    UNSEEN: frozenset[Key] = frozenset(["\0not seen yet"])  # a marker, never stored

    def __init__(
        self,
        vocab: frozenset[Key],
        langs: Sequence[str],
        prefixes: frozenset[str],
    ) -> None:
        self.vocab = vocab
        self.langs = tuple(langs)
        self.prefixes = prefixes
        self.lens = tuple(sorted({len(p) for p in prefixes}))
        self.map: dict[str, frozenset[Key]] = {}

    def __len__(self) -> int:
        return len(self.map)

    def clear(self) -> None:
        self.map.clear()

    def _learn(self, tokens: Iterable[str]) -> list[frozenset[Key]]:
        """Look ``tokens`` up (and remember them); their keys."""
        if len(self.map) >= self.MAX:
            self.clear()
        vocab, langs, prefixes, lens = self.vocab, self.langs, self.prefixes, self.lens
        out = []
        for token in tokens:
            keys: list[Key] = []
            if token in vocab:
                keys.append(token)
            for lang in langs:
                key = lang + "\0" + _STEMS[lang](token)
                if key in vocab:
                    keys.append(key)
            for n in lens:
                if n > len(token):
                    break
                if token[:n] in prefixes:
                    keys.append("*\0" + token[:n])
            found = self.map[token] = frozenset(keys) if keys else self.NONE
            out.append(found)
        return out

    def present(self, groups: Sequence[list[str]]) -> set[Key]:
        """The keys satisfied by any of the tokens in ``groups``."""
        get, unseen = self.map.get, self.UNSEEN
        found: set[frozenset[Key]] = set()
        for tokens in groups:
            found.update(map(get, tokens, repeat(unseen)))
        if unseen in found:  # tokens not seen before
            found.discard(unseen)
            new = set(chain.from_iterable(groups)).difference(self.map)  # C, exact dict
            found.update(self._learn(new))
        return set().union(*found)


class _Doc:
    """An item prepared for matching: tokenized once, indexes shared by every rule.

    ``present``: the vocabulary keys (see ``_TokenKeys``) that occur in title, summary or
    content -- the prefilter's hits and the word lookups of every rule, from one pass.
    """

    __slots__ = ("_djoined", "fields", "item", "lang", "memo", "present")

    def __init__(self, item: Item, keys: _TokenKeys) -> None:
        self.item = item
        self.lang = _primary_lang(item.lang)
        title = _Field.single(item.title)
        summary = _Field.single(item.summary)
        content = _Field.single(item.content)
        self.fields = {"title": title, "summary": summary, "content": content}
        groups = (title.groups[0], summary.groups[0], content.groups[0])
        self.present: set[Key] = keys.present(groups)
        self._djoined: dict[str | None, str] = {}
        self.memo: dict[Any, list[int]] = {}

    def field(self, name: str) -> _Field:
        f = self.fields.get(name)
        if f is None:
            f = self.fields[name] = _Field.of(_field_values(self.item, name))
        return f

    def default_joined(self, lang: str | None) -> str:
        """Title, summary and content as one ``" tok tok \\x00 tok "`` (NUL between fields,
        so a phrase cannot run from one into the next), stemmed for ``lang``."""
        s = self._djoined.get(lang)
        if s is None:
            parts = (self.fields[f].view(lang).joined for f in DEFAULT_FIELDS)
            s = self._djoined[lang] = "\x00".join(parts)
        return s


# --- compiled nodes -----------------------------------------------------------------------


class _Compiled:
    """A compiled AST node: ``test`` (fast) and ``explain`` (hits, or None when false)."""

    cost: float
    test: Test

    def explain(self, d: _Doc) -> list[Hit] | None:
        raise NotImplementedError


class _SpanNode(_Compiled):
    """A node usable inside NEAR: it has positions."""

    fields: tuple[str, ...]

    def spans(self, d: _Doc, f: str) -> list[Span]:
        raise NotImplementedError

    def pspans(self, d: _Doc, f: str) -> list[PSpan]:
        raise NotImplementedError


class _TermM(_SpanNode):
    def __init__(self, term: Term, tid: int, lang: str | None) -> None:
        self.tid = tid
        self.fields = term.scope
        self.lang = lang
        stem = _STEMS[lang] if lang else None
        # exact words are compared as stems when the rule stems; prefixes never are
        self.elems = tuple(
            (w if p or stem is None else stem(w), p)
            for w, p in zip(term.words, term.prefix, strict=True)
        )
        self.key = (self.elems, lang)
        self.exact = tuple(w for w, p in self.elems if not p)
        # how each exact word is looked up in ``_Doc.present``
        self.keys: tuple[Key, ...] = tuple(
            w if lang is None else lang + "\0" + w for w in self.exact
        )
        self.prefixes = tuple(w for w, p in self.elems if p)
        # keys of ``_Doc.present`` that must all be there for a hit in title/summary/content
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
            if default:  # ``_TokenKeys`` knows every query prefix: a set lookup
                need = self.need[0]
                return lambda d: need in d.present
            needle, view = " " + self.prefixes[0], None
        elif not self.prefixes:  # a phrase: " w1 w2 " in " tok tok " (of stems if stemming)
            needle, view = " " + " ".join(exact) + " ", lang
        else:  # a phrase with wildcards: positions
            return lambda d: any(self.starts(d, f) for f in fields)
        if not default:
            return lambda d: any(needle in d.field(f).view(view).joined for f in fields)

        def search_default(d: _Doc) -> bool:
            if keys:  # every word must be there somewhere first: a set lookup each
                have = d.present
                for k in keys:
                    if k not in have:
                        return False
            return needle in d.default_joined(view)

        return search_default

    def starts(self, d: _Doc, f: str) -> list[int]:
        """Virtual positions where this term starts in field ``f`` (memoized per item: many
        rules share terms)."""
        if f in DEFAULT_FIELDS and not d.present.issuperset(self.need):
            return []
        key = (self.key, f)
        found = d.memo.get(key)
        if found is None:
            found = d.memo[key] = self._starts(d, f)
        return found

    def _starts(self, d: _Doc, f: str) -> list[int]:
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

    def spans(self, d: _Doc, f: str) -> list[Span]:
        last = len(self.elems) - 1
        return [(p, p + last) for p in self.starts(d, f)]

    def pspans(self, d: _Doc, f: str) -> list[PSpan]:
        tid = self.tid
        return [(s, e, ((f, s, e, tid),)) for s, e in self.spans(d, f)]

    def explain(self, d: _Doc) -> list[Hit] | None:
        last, tid = len(self.elems) - 1, self.tid
        hits = [(f, p, p + last, tid) for f in self.fields for p in self.starts(d, f)]
        return hits or None


class _AndM(_Compiled):
    def __init__(self, children: list[_Compiled]) -> None:
        self.children = sorted(children, key=lambda c: c.cost)
        self.cost = sum(c.cost for c in children)
        tests = tuple(c.test for c in self.children)
        if len(tests) == 2:
            a, b = tests
            self.test = lambda d: a(d) and b(d)
        else:

            def test(d: _Doc) -> bool:
                for t in tests:  # noqa: SIM110 - a loop is faster than all() on a generator
                    if not t(d):
                        return False
                return True

            self.test = test

    def explain(self, d: _Doc) -> list[Hit] | None:
        out: list[Hit] = []
        for c in self.children:
            hits = c.explain(d)
            if hits is None:
                return None
            out += hits
        return out


class _OrM(_SpanNode):
    """OR. Its plain-word children (one exact word, default fields) are handled together as
    a set: big groups like ``(quit OR quits OR leave OR ...)`` cost one set operation."""

    def __init__(self, children: list[_Compiled]) -> None:
        self.children = sorted(children, key=lambda c: c.cost)
        self.cost = sum(c.cost for c in children)
        self.words: dict[Key, _TermM] = {}
        rest: list[_Compiled] = []
        for c in self.children:
            if isinstance(c, _TermM) and c.plain and c.keys[0] not in self.words:
                self.words[c.keys[0]] = c
            else:
                rest.append(c)
        self.rest = rest
        words = frozenset(self.words)
        tests = tuple(c.test for c in rest)

        def test(d: _Doc) -> bool:
            if words and not words.isdisjoint(d.present):
                return True
            for t in tests:  # noqa: SIM110 - a loop is faster than any() on a generator
                if t(d):
                    return True
            return False

        self.test = test
        if all(isinstance(c, _SpanNode) for c in children):
            self.fields = tuple(
                f
                for f in FIELDS
                if any(f in c.fields for c in children)  # type: ignore[attr-defined]
            )

    def _present(self, d: _Doc, f: str | None) -> list[_Compiled]:
        """The children worth looking at: plain words only if they occur in the item."""
        if not self.words or (f is not None and f not in DEFAULT_FIELDS):
            return self.rest
        return [self.words[w] for w in self.words.keys() & d.present] + self.rest

    def _span_children(self, d: _Doc, f: str) -> Iterator[_SpanNode]:
        for c in self._present(d, f):
            assert isinstance(c, _SpanNode)
            if f in c.fields:
                yield c

    def spans(self, d: _Doc, f: str) -> list[Span]:
        return [s for c in self._span_children(d, f) for s in c.spans(d, f)]

    def pspans(self, d: _Doc, f: str) -> list[PSpan]:
        return [s for c in self._span_children(d, f) for s in c.pspans(d, f)]

    def explain(self, d: _Doc) -> list[Hit] | None:
        found = [h for h in (c.explain(d) for c in self._present(d, None)) if h is not None]
        return [hit for hits in found for hit in hits] if found else None


class _NotM(_Compiled):
    def __init__(self, child: _Compiled) -> None:
        self.child = child
        self.cost = child.cost
        t = child.test
        self.test = lambda d: not t(d)

    def explain(self, d: _Doc) -> list[Hit] | None:
        return None if self.child.test(d) else []


class _LangM(_Compiled):
    cost = 0.1

    def __init__(self, code: str) -> None:
        self.test = lambda d: d.lang == code

    def explain(self, d: _Doc) -> list[Hit] | None:
        return [] if self.test(d) else None


def _pairs(
    a_spans: Sequence[Any], b_spans: Sequence[Any], n: int, ordered: bool
) -> Iterator[tuple[Any, Any]]:
    """(earlier, later) pairs of non-overlapping spans at most ``n`` positions apart.

    ``ordered``: only pairs where the earlier span comes from ``a_spans``.
    """
    by_start = sorted(b_spans, key=lambda s: s[0])
    starts = [s[0] for s in by_start]
    for a in a_spans:  # a, then b
        end = a[1]
        for b in by_start[bisect_right(starts, end) : bisect_right(starts, end + n)]:
            yield a, b
    if ordered:
        return
    by_end = sorted(b_spans, key=lambda s: s[1])
    ends = [s[1] for s in by_end]
    for a in a_spans:  # b, then a
        start = a[0]
        for b in by_end[bisect_left(ends, start - n) : bisect_left(ends, start)]:
            yield b, a


class _NearM(_SpanNode):
    def __init__(self, node: Near, left: _SpanNode, right: _SpanNode) -> None:
        self.left, self.right = left, right
        self.n, self.ordered = node.distance, node.ordered
        self.fields = near_fields(node)
        self.cost = left.cost + right.cost + 4.0
        lt, rt, fields, n, ordered = left.test, right.test, self.fields, self.n, self.ordered

        def test(d: _Doc) -> bool:
            if not (lt(d) and rt(d)):  # both present somewhere: cheap, and usually false
                return False
            for f in fields:
                a = left.spans(d, f)
                b = right.spans(d, f) if a else []
                for _ in _pairs(a, b, n, ordered):
                    return True
            return False

        self.test = test

    def spans(self, d: _Doc, f: str) -> list[Span]:
        a = self.left.spans(d, f)
        b = self.right.spans(d, f) if a else []
        return list({(x[0], y[1]) for x, y in _pairs(a, b, self.n, self.ordered)})

    def pspans(self, d: _Doc, f: str) -> list[PSpan]:
        a = self.left.pspans(d, f)
        b = self.right.pspans(d, f) if a else []
        return [(x[0], y[1], x[2] + y[2]) for x, y in _pairs(a, b, self.n, self.ordered)]

    def explain(self, d: _Doc) -> list[Hit] | None:
        hits = {h for f in self.fields for _, _, prov in self.pspans(d, f) for h in prov}
        return sorted(hits) or None


# --- anchors ------------------------------------------------------------------------------

# (pattern kind, text): ("w", word) / ("p", prefix) / (lang, stem) / ("=", language code)
Anchor = tuple[str, str]


def _word_cost(word: str, is_prefix: bool, capitalized: bool) -> float:
    """A guess at how likely ``word`` (or a word with this prefix) is in an item.

    Roughly "percent of items containing it": function words and common news words are
    likely; short words more likely than long ones; a word the rule's author capitalized (a
    name, an acronym) about ten times less likely than a lowercase one; a prefix more likely
    than the word.
    """
    if word in FUNCTION_WORDS:
        cost = 50.0
    elif len(word) <= 2:
        cost = 20.0
    elif word in COMMON_WORDS:
        cost = 12.0
    elif capitalized:
        cost = 0.2 + 1.0 / len(word)
    else:
        cost = 1.0 + 6.0 / len(word)
    return cost * (1.5 + 4.0 / len(word)) if is_prefix else cost


def _capitalized(term: Term) -> tuple[bool, ...]:
    """For each word of ``term``, whether the query wrote it with a capital."""
    tokens, spans = tokenize_spans(term.label)
    if len(tokens) != len(term.words):
        return (False,) * len(term.words)
    return tuple(term.label[start].isupper() for start, _ in spans)


def _anchors(node: Node, lang: str | None) -> tuple[float, frozenset[Anchor]] | None:
    """The cheapest word set one of which must occur for ``node`` to match, or None."""
    match node:
        case Term(words, prefix):
            options: list[tuple[float, Anchor]] = []
            proper = _capitalized(node)
            for w, p, cap in zip(words, prefix, proper, strict=True):
                if p:
                    if len(w) >= MIN_PREFIX_ANCHOR:
                        options.append((_word_cost(w, True, cap), ("p", w)))
                elif lang:
                    options.append((_word_cost(w, False, cap), (lang, _STEMS[lang](w))))
                else:
                    options.append((_word_cost(w, False, cap), ("w", w)))
            if not options:
                return None
            cost, anchor = min(options)
            return cost, frozenset([anchor])
        case And(children):
            found = [a for c in children if (a := _anchors(c, lang)) is not None]
            return min(found, key=lambda a: a[0]) if found else None
        case Near(left, right):
            found = [a for c in (left, right) if (a := _anchors(c, lang)) is not None]
            return min(found, key=lambda a: a[0]) if found else None
        case Or(children):
            total, union = 0.0, set[Anchor]()
            for c in children:
                a = _anchors(c, lang)
                if a is None:
                    return None
                total += a[0]
                union |= a[1]
            return total, frozenset(union)
        case Lang(code):
            return LANG_COST, frozenset([("=", code)])
    return None  # NOT


def _anchor_fields(node: Node) -> set[str]:
    match node:
        case Term():
            return set(node.scope)
        case And(children) | Or(children):
            return set().union(*map(_anchor_fields, children))
        case Near(left, right):
            return _anchor_fields(left) | _anchor_fields(right)
    return set()


# --- rules --------------------------------------------------------------------------------


class _Rule:
    def __init__(self, spec: RuleSpec, query: Query, lang: str | None) -> None:
        self.name = spec.name
        self.query = query
        self.lang = lang
        self.labels: list[str] = []
        self.terms: list[_TermM] = []
        self.root = self._compile(query.root)
        self.test = self.root.test
        self.anchors = _anchors(query.root, lang)

    def _compile(self, node: Node) -> _Compiled:
        match node:
            case Term():
                self.labels.append(node.label)
                term = _TermM(node, len(self.labels) - 1, self.lang)
                self.terms.append(term)
                return term
            case And(children):
                return _AndM([self._compile(c) for c in children])
            case Or(children):
                return _OrM([self._compile(c) for c in children])
            case Not(child):
                return _NotM(self._compile(child))
            case Near(left, right):
                lc, rc = self._compile(left), self._compile(right)
                assert isinstance(lc, _SpanNode)
                assert isinstance(rc, _SpanNode)
                return _NearM(node, lc, rc)
            case Lang(code):
                return _LangM(code)
        raise TypeError(node)  # pragma: no cover

    def explain(self, d: _Doc) -> tuple[FieldHit, ...]:
        hits = self.root.explain(d) or []
        by_field: dict[str, list[Hit]] = {}
        for hit in hits:
            by_field.setdefault(hit[0], []).append(hit)
        return tuple(
            _field_hit(d.field(f), f, by_field[f], self.labels) for f in FIELDS if f in by_field
        )


def _field_hit(field: _Field, name: str, hits: list[Hit], labels: list[str]) -> FieldHit:
    terms = tuple(dict.fromkeys(labels[tid] for tid in sorted({h[3] for h in hits})))
    first = min(h[1] for h in hits)
    k = first >> GAP_BITS
    base = k << GAP_BITS
    # the snippet shows about SNIPPET_WIDTH characters: at most that many tokens
    window = first + SNIPPET_WIDTH // 2  # a token and a separator take two characters or more
    near = [(s - base, e - base) for _, s, e, _ in hits if first <= s <= window]
    spans = field.char_spans(k, [i for pair in near for i in pair])
    marks = [] if spans is None else sorted((spans[s][0], spans[e][1]) for s, e in near)
    return FieldHit(name, _snippet(field.values[k], marks), terms)


def _snippet(text: str, marks: list[Span], width: int = SNIPPET_WIDTH) -> str:
    """About ``width`` characters of ``text`` around the first mark, marks wrapped in ``**``."""
    merged: list[list[int]] = []
    for s, e in marks:
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    first_s, first_e = merged[0] if merged else (0, 0)
    lo = max(0, first_s - max(0, width - (first_e - first_s)) // 3)
    hi = max(first_e, min(len(text), lo + width))
    if hi == len(text):
        lo = max(0, min(lo, hi - width))
    # do not cut words in half
    if lo > 0 and not text[lo - 1].isspace():
        cut = text.find(" ", lo, first_s)
        lo = cut + 1 if cut >= 0 else lo
    if hi < len(text) and not text[hi].isspace():
        cut = text.rfind(" ", first_e, hi)
        hi = cut if cut >= 0 else hi
    pieces: list[str] = []
    cur = lo
    for s, e in merged:
        if s < lo or s >= hi:
            continue
        hi = max(hi, e)
        pieces += [text[cur:s], "**", text[s:e], "**"]
        cur = e
    pieces.append(text[cur:hi])
    body = " ".join("".join(pieces).split())
    return ("…" if lo > 0 else "") + body + ("…" if hi < len(text) else "")


class RuleSet:
    """Rules compiled for matching; immutable and safe to share between threads."""

    def __init__(self, rules: list[_Rule]) -> None:
        self._rules = rules
        self._names = tuple(r.name for r in rules)
        self._index = {r.name: i for i, r in reversed(list(enumerate(rules)))}
        anchored: dict[Key, list[int]] = {}
        vocab: set[Key] = set()
        prefixes: set[str] = set()
        always: list[int] = []
        fields: set[str] = set()
        for i, rule in enumerate(rules):
            for term in rule.terms:
                vocab.update(term.keys)
                prefixes.update(term.prefixes)
            if rule.anchors is None:
                always.append(i)
                continue
            fields |= _anchor_fields(rule.query.root)
            for kind, word in rule.anchors[1]:
                if kind == "w":
                    key: Key = word
                elif kind == "p":
                    key = "*\0" + word
                    prefixes.add(word)
                else:  # lang\0stem, or =\0code: the item's language (``_candidates``)
                    key = kind + "\0" + word
                if kind != "=":
                    vocab.add(key)
                anchored.setdefault(key, []).append(i)
        self._always = tuple(always)
        self._extra_fields = tuple(f for f in FIELDS if f in fields - set(DEFAULT_FIELDS))
        self._anchored = {k: tuple(v) for k, v in anchored.items()}
        self._anchor_keys = frozenset(anchored)
        langs = sorted({r.lang for r in rules if r.lang is not None})
        self._keys = _TokenKeys(frozenset(vocab), langs, frozenset(prefixes))

    @property
    def names(self) -> tuple[str, ...]:
        return self._names

    def __len__(self) -> int:
        return len(self._rules)

    def candidates(self, item: Item) -> list[int]:
        """Indexes of the rules the prefilter lets through for ``item`` (for tests, benches)."""
        return self._candidates(_Doc(item, self._keys))

    def _candidates(self, d: _Doc) -> list[int]:
        found = set(self._always)
        hits = d.present & self._anchor_keys
        lang = "=\0" + d.lang
        if lang in self._anchor_keys:
            hits.add(lang)
        if self._extra_fields:
            for f in self._extra_fields:
                hits.update(self._anchor_keys.intersection(self._keys.present(d.field(f).groups)))
        anchored = self._anchored
        for key in hits:
            found.update(anchored[key])
        return sorted(found)

    def match(self, item: Item, explain: bool = True) -> list[RuleMatch]:
        """The rules ``item`` matches, in configuration order, with explain data.

        ``explain=False`` leaves ``hits`` empty: matching decides which rules match, and
        explaining (placing the hits in the original text) costs more than matching; a caller
        can ask ``explain(item, rule)`` for the matches it keeps.
        """
        d = _Doc(item, self._keys)
        rules = self._rules
        out = []
        for i in self._candidates(d):
            rule = rules[i]
            if rule.test(d):
                out.append(RuleMatch(rule.name, rule.explain(d) if explain else ()))
        return out

    def explain(self, item: Item, rule: str) -> tuple[FieldHit, ...]:
        """The explain data of rule ``rule`` (a name in ``names``) for ``item``: what
        ``match(item)`` puts in that rule's ``RuleMatch.hits``; empty if it does not match.

        Raises ``KeyError`` for an unknown rule name.
        """
        compiled = self._rules[self._index[rule]]
        d = _Doc(item, self._keys)
        return compiled.explain(d) if compiled.test(d) else ()


def compile_rules(rules: Sequence[RuleSpec]) -> RuleSet:
    """Parse and compile ``rules`` into one ``RuleSet``.

    Raises ``RuleSyntaxError`` (a ``QuerySyntaxError``; ``.rule`` names the rule) for a query
    that does not parse or an unknown stemmer language.
    """
    compiled = []
    for spec in rules:
        try:
            query = parse_query(spec.query)
        except QuerySyntaxError as err:
            raise RuleSyntaxError(spec.name, err.message, err.query, err.position) from None
        lang = None
        if spec.stem:
            try:
                _STEMS.setdefault(spec.stem.strip().lower(), stemmer(spec.stem))
            except ValueError as err:
                raise RuleSyntaxError(spec.name, str(err), spec.query, 0) from None
            lang = spec.stem.strip().lower()
        compiled.append(_Rule(spec, query, lang))
    return RuleSet(compiled)
