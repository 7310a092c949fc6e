"""The rule set's vocabulary, and which of its keys each token of an item satisfies.

A key is a query word (``word``), a stem (``english\\0stem``), a wildcard prefix
(``*\\0prefix``) or a language (``=\\0ur``): strings, whose hashes Python caches (tokens
never hold a NUL). ``TokenKeys.present`` turns an item's tokens into the keys they satisfy
with one dictionary lookup per token, in C; the candidate index (``monitor.query.candidates``)
and the rules' word tests both read the result.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import chain, repeat

from monitor.query.stem import STEMS

__all__ = ["Key", "TokenKeys"]

#: A vocabulary key (see above).
Key = str


class TokenKeys:
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
                key = lang + "\0" + STEMS[lang](token)
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
