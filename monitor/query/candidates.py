"""The candidate index: which of a rule set's rules an item lets through to evaluation.

Each rule is filed under its anchors (``monitor.query.anchors``); an item's tokens are turned
into vocabulary keys with one dictionary lookup per token (``TokenKeys``), and the rules filed
under those keys, plus the rules with no anchor, are the candidates, in configuration order.
The vocabulary also holds every query word and prefix the rules test, so the same lookups
answer their plain word and single-wildcard tests (``Document.present``).
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor.query.anchors import anchor_fields
from monitor.query.document import Document
from monitor.query.nodes import DEFAULT_FIELDS, FIELDS
from monitor.query.rule import Rule
from monitor.query.vocabulary import Key, TokenKeys

__all__ = ["CandidateIndex"]


class CandidateIndex:
    """Rules by anchor key, and the token cache (``keys``) that turns items into keys."""

    def __init__(self, rules: Sequence[Rule]) -> None:
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
            fields |= anchor_fields(rule.query.root)
            for kind, word in rule.anchors[1]:
                if kind == "w":
                    key: Key = word
                elif kind == "p":
                    key = "*\0" + word
                    prefixes.add(word)
                else:  # lang\0stem, or =\0code: the item's language (``candidates``)
                    key = kind + "\0" + word
                if kind != "=":
                    vocab.add(key)
                anchored.setdefault(key, []).append(i)
        self._always = tuple(always)
        self._extra_fields = tuple(f for f in FIELDS if f in fields - set(DEFAULT_FIELDS))
        self._anchored = {k: tuple(v) for k, v in anchored.items()}
        self._anchor_keys = frozenset(anchored)
        langs = sorted({r.lang for r in rules if r.lang is not None})
        self.keys = TokenKeys(frozenset(vocab), langs, frozenset(prefixes))

    def candidates(self, d: Document) -> list[int]:
        """Indexes of the rules that can match ``d``, ascending."""
        found = set(self._always)
        hits = d.present & self._anchor_keys
        lang = "=\0" + d.lang
        if lang in self._anchor_keys:
            hits.add(lang)
        if self._extra_fields:
            for f in self._extra_fields:
                hits.update(self._anchor_keys.intersection(self.keys.present(d.field(f).groups)))
        anchored = self._anchored
        for key in hits:
            found.update(anchored[key])
        return sorted(found)
