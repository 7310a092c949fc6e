"""Anchors: for each rule, words one of which must occur in an item for the rule to match.

``a b`` needs the cheaper side; ``a OR b`` needs both sides' anchors; a phrase needs one of
its words; ``NOT`` adds none; ``lang:xx`` is an anchor of last resort (the item's language,
``=\\0xx``, priced above any word). Words are priced by a guess at how common they are
(``_word_cost``: function words and common news words, length, capitals in the query,
wildcards) and the cheapest sufficient set wins. A rule with no anchor (only wildcards
shorter than 3 letters, only a negation) is evaluated for every item; ``lang:ur`` or
``lang:de zw*`` only for items in that language. The candidate index
(``monitor.query.candidates``) files each rule under its anchors.
"""

from __future__ import annotations

from monitor.query.frequent import COMMON_WORDS, FUNCTION_WORDS
from monitor.query.nodes import And, Lang, Near, Node, Or, Term
from monitor.query.spans import tokenize_spans
from monitor.query.stem import STEMS

__all__ = ["Anchor", "anchor_fields", "cheapest_anchors"]

MIN_PREFIX_ANCHOR = 3  # shorter wildcard prefixes are not used as anchors
LANG_COST = 40.0  # a language as an anchor: only when the rule has no better one

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


def cheapest_anchors(node: Node, lang: str | None) -> tuple[float, frozenset[Anchor]] | None:
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
                    options.append((_word_cost(w, False, cap), (lang, STEMS[lang](w))))
                else:
                    options.append((_word_cost(w, False, cap), ("w", w)))
            if not options:
                return None
            cost, anchor = min(options)
            return cost, frozenset([anchor])
        case And(children):
            found = [a for c in children if (a := cheapest_anchors(c, lang)) is not None]
            return min(found, key=lambda a: a[0]) if found else None
        case Near(left, right):
            found = [a for c in (left, right) if (a := cheapest_anchors(c, lang)) is not None]
            return min(found, key=lambda a: a[0]) if found else None
        case Or(children):
            total, union = 0.0, set[Anchor]()
            for c in children:
                a = cheapest_anchors(c, lang)
                if a is None:
                    return None
                total += a[0]
                union |= a[1]
            return total, frozenset(union)
        case Lang(code):
            return LANG_COST, frozenset([("=", code)])
    return None  # NOT


def anchor_fields(node: Node) -> set[str]:
    """The fields the terms of ``node`` search (where its anchors may occur)."""
    match node:
        case Term():
            return set(node.scope)
        case And(children) | Or(children):
            return set().union(*map(anchor_fields, children))
        case Near(left, right):
            return anchor_fields(left) | anchor_fields(right)
    return set()
