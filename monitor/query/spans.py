"""Token offsets: where each token of ``tokenize(text)`` lies in the original ``text``.

For snippets (explain data) and for reading ``word*`` in a query. The offsets come from the
normalized text of ``tokenize_keep`` when it is aligned with the original (ASCII, most
Latin-1, Arabic script with harakat: every character normalized in place to one character or
was removed), from a word-by-word pass otherwise (``tokenize_spans``).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable
from functools import partial
from itertools import accumulate, compress
from operator import add

from monitor.query.fold import (
    ASTRAL_RE,
    BMP,
    MARKS,
    STRIPPED,
    STRIPPED_ONE,
    normalize,
    patterns_for,
    ranges_class,
)
from monitor.query.tokens import LATIN1_UNSAFE, Kept, presep, tokenize, tokenize_keep

__all__ = ["Offsets", "token_offsets", "token_spans", "tokenize_spans"]

# Latin-1 characters that do not even normalize to exactly one character.
_LATIN1_MISALIGNING = tuple(c for c in LATIN1_UNSAFE if len(normalize(c)) != 1)
_CHUNKS: dict[str, list[str]] = {}  # original word run -> its tokens (bounded cache)
_plus_one = (1).__add__
# Latin-1 bytes: word characters kept, separators (and ``_``) a space.
_LATIN1_SPACES = bytes(b if chr(b).isalnum() else 0x20 for b in range(256))


@functools.cache
def _misaligning() -> re.Pattern[str]:
    """Characters that do not normalize to exactly one character in place.

    That is: removed ones, expanding ones (``ß``, ``ﬁ``, ``½``), and those normalization may
    merge with a neighbour (marks that are kept, Hangul jamo). Built on first use (~20 ms).
    """
    cps = set(STRIPPED) | set(MARKS)
    cps.update(range(0x1100, 0x1200), range(0xA960, 0xA980), range(0xD7B0, 0xD800))
    for cp in range(0x80, 0x10000):
        ch = chr(cp)
        if cp in cps or 0xD800 <= cp < 0xE000:
            continue
        if (unicodedata.decomposition(ch) or len(ch.casefold()) != 1) and len(normalize(ch)) != 1:
            cps.add(cp)
    return re.compile(f"[{ranges_class(cp for cp in cps if cp < 0x10000)}]")


def _aligned(text: str, norm: str, tokens: list[str]) -> tuple[str, list[int]] | None:
    """``norm`` with every separator a space, when its offsets can be mapped back to ``text``
    (see ``token_spans``); and where removed characters sat (to shift offsets back over)."""
    removed: list[int] = []
    if not text.isascii():
        text = presep(text)  # one character for one
        try:
            text.encode("latin-1")
            latin1 = True
        except UnicodeEncodeError:
            latin1 = False
        if latin1:
            if any(c in text for c in _LATIN1_MISALIGNING):
                return None
        elif ASTRAL_RE.search(text):
            return None
        elif len(norm) != len(text) or _misaligning().search(text):
            # the text with the removed characters taken out must be aligned
            removed = [m.start() for m in STRIPPED_ONE.finditer(text)]
            rest = BMP.strip.sub("", text)
            if not removed or len(rest) != len(norm) or _misaligning().search(rest):
                return None
            removed = [r - i for i, r in enumerate(removed)]  # where each sat in ``rest``
    elif len(norm) != len(text):
        return None
    if not norm.isascii():  # make every separator a space, one for one
        try:
            norm = norm.encode("latin-1").translate(_LATIN1_SPACES).decode("latin-1")
        except UnicodeEncodeError:
            spaced = norm.replace("\n", " ").replace("\t", " ").replace("\r", " ")
            if list(filter(None, spaced.split(" "))) == tokens:
                norm = spaced
            else:
                norm = BMP.separator.sub(" ", norm.replace("_", " "))
    return norm, removed


def token_spans(text: str, norm: str, tokens: list[str]) -> list[tuple[int, int]] | None:
    """The offsets in ``text`` of ``tokens``, read from ``norm``; ``tokens`` and ``norm``
    come from ``tokenize_keep(text)``.

    Works when every character normalized in place to one character, or was removed
    (harakat, tatweel, soft hyphens, zero-width joiners): offsets are shifted back over the
    removed ones. Otherwise None (then use ``tokenize_spans``).
    """
    aligned = _aligned(text, norm, tokens)
    if aligned is None:
        return None
    spaced, removed = aligned
    parts = spaced.split(" ")
    # part i starts after parts 0..i-1 and one space after each
    starts = list(compress(accumulate(map(_plus_one, map(len, parts)), initial=0), parts))
    ends = list(map(add, starts, map(len, tokens)))
    if removed:
        # position p of ``rest`` is p + (removed characters before it): a token's span takes
        # in the marks right after its last letter, not those before its first
        shift = partial(bisect_right, removed)
        starts = list(map(add, starts, map(shift, starts)))
        ends = list(map(add, ends, map(shift, ends)))
    return list(zip(starts, ends, strict=True))


class Offsets:
    """Finds the offsets in the original text of tokens, by index (see ``token_offsets``)."""

    __slots__ = ("_padded", "_removed", "_tokens")

    def __init__(self, spaced: str, removed: list[int], tokens: list[str]) -> None:
        self._padded = " " + spaced + " "
        self._removed = removed
        self._tokens = tokens

    def __call__(self, indexes: Iterable[int]) -> dict[int, tuple[int, int]]:
        """Each token is found as the n-th occurrence of its word, counting on from the last
        one found: the cost grows with the tokens asked for, not with the text."""
        padded, tokens = self._padded, self._tokens
        shift = partial(bisect_right, self._removed)
        last: dict[str, tuple[int, int]] = {}  # word -> (index, offset) of the last found
        out = {}
        for j in sorted(set(indexes)):
            token = tokens[j]
            needle = " " + token + " "
            i, at = last.get(token, (-1, -len(token)))
            for _ in range(tokens[i + 1 : j].count(token) + 1):
                at = padded.find(needle, at + len(token))
            last[token] = (j, at)
            # ``at`` is the space before the token in ``padded``: its start in ``spaced``
            end = at + len(token)
            out[j] = (at + shift(at), end + shift(end)) if self._removed else (at, end)
        return out


def token_offsets(text: str, kept: Kept) -> Offsets | None:
    """Like ``token_spans``, for a few tokens at a time: ``token_offsets(text, kept)([3, 9])``
    with ``kept = tokenize_keep(text)``."""
    if kept.aligned:
        return Offsets(kept.norm, [], kept.tokens)
    aligned = _aligned(text, kept.norm, kept.tokens)
    return None if aligned is None else Offsets(aligned[0], aligned[1], kept.tokens)


def tokenize_spans(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """``tokenize(text)`` and, for each token, its ``(start, end)`` in ``text``.

    A word character that normalizes to several tokens (``½`` → ``1``, ``2``) gives each of
    them the span of the run it came from.
    """
    tokens, norm, _ = tokenize_keep(text)
    spans = token_spans(text, norm, tokens)
    return (tokens, spans) if spans is not None else _chunk_spans(text)


def _chunk_spans(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Slow path: tokenize each run of word characters of the original on its own."""
    tokens: list[str] = []
    spans: list[tuple[int, int]] = []
    cache = _CHUNKS
    if len(cache) > 50_000:
        cache.clear()
    for m in patterns_for(text).chunk.finditer(text.replace("_", " ")):
        chunk = m.group()
        chunk_tokens = cache.get(chunk)
        if chunk_tokens is None:
            chunk_tokens = cache[chunk] = tokenize(chunk)
        tokens += chunk_tokens
        if len(chunk_tokens) == 1:
            spans.append(m.span())
        else:
            spans += [m.span()] * len(chunk_tokens)
    return tokens, spans
