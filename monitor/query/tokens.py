"""Tokenization: the normalized words of a text, in order.

A token is a maximal run of letters, digits and marks of the normalized text (``\\w`` less
``_``, plus Unicode marks; see ``monitor.query.fold``). Everything else separates words:
spaces, punctuation, ``_``, apostrophes (``party's`` → ``party``, ``s``) and hyphens
(``MQM-P`` → ``mqm``, ``p``).

It runs at C speed, with no loop over characters in Python: ASCII text (after replacing
common typographic punctuation such as ``’ “ ” — …`` by spaces, which tokenizes the same)
goes through one ``str.translate`` and ``str.split``; Latin-1 text through one
``bytes.translate`` with a folding table; everything else is normalized one
whitespace-separated chunk at a time with a cache of each chunk's tokens (``_ChunkTokens``:
whitespace never joins, splits or merges words, and news vocabulary repeats). The hypothesis
tests check every fast path against the plain definition. ``tokenize_keep`` also returns the
normalized text, from which ``monitor.query.spans`` places tokens in the original.
"""

from __future__ import annotations

from itertools import chain
from typing import NamedTuple

from monitor.query.fold import (
    MARKS,
    STRIPPED,
    is_wordish,
    normalize,
    normalize_nonascii,
    patterns_for,
)

__all__ = [
    "LATIN1_UNSAFE",
    "Kept",
    "presep",
    "tokenize",
    "tokenize_keep",
    "tokenize_lazy",
]

# ASCII: letters and digits lowered, everything else a space (translate + split = tokenize).
_ASCII_BYTES = bytes(ord(chr(i).lower()) if chr(i).isalnum() else 0x20 for i in range(128))
_ASCII_TABLE = str.maketrans(dict(zip(map(chr, range(128)), map(chr, _ASCII_BYTES), strict=True)))
# Common non-ASCII separators replaced by a space before anything else: they separate words
# under the full rules too, so this changes no token, and English text with typographic quotes
# and dashes stays on the ASCII path. One character each, so offsets are kept.
_PRESEP = tuple("\u2019\u2018\u201c\u201d\u2013\u2014\u2026\u2022")
# ... and in non-Latin text, the common punctuation of Arabic script and friends, so that
# text separated only by whitespace is split by ``str.split``.
_PRESEP_MORE = tuple("\u060c\u061b\u061f\u06d4\u00ab\u00bb\u00a0\u201e\u2039\u203a\u3000")
assert all(not is_wordish(c) and ord(c) not in STRIPPED for c in _PRESEP + _PRESEP_MORE)


def presep(text: str) -> str:
    """``text`` with common typographic separators made spaces, one character for one."""
    for ch in _PRESEP:
        text = text.replace(ch, " ")
    return text


def _tokens_of_normalized(norm: str) -> list[str]:
    if norm.isascii():
        return norm.translate(_ASCII_TABLE).split()
    norm = norm.replace("_", " ")
    for ch in _PRESEP_MORE:
        norm = norm.replace(ch, " ")
    pats = patterns_for(norm)
    if pats.other.search(norm) is None:  # only words and whitespace: split is tokenizing
        return norm.split()
    return pats.word.findall(norm)


def _latin1_table() -> tuple[bytes, tuple[str, ...]]:
    """A byte table folding Latin-1 text straight to ASCII tokens (letters to their plain
    lowercase letter, separators to a space), and the characters it cannot handle (they
    normalize to nothing, to several characters, or to a non-ASCII letter)."""
    table = bytearray(_ASCII_BYTES + bytes(128))
    unsafe = []
    for b in range(0x80, 0x100):
        norm = normalize(chr(b))
        if len(norm) == 1 and norm.isascii() and norm.isalnum():
            table[b] = ord(norm)
        elif norm and not any(c.isalnum() or ord(c) in MARKS for c in norm):
            table[b] = 0x20
        else:
            unsafe.append(chr(b))
    return bytes(table), tuple(unsafe)


_LATIN1_TABLE, LATIN1_UNSAFE = _latin1_table()


def _latin1_spaced(text: str) -> str | None:
    """Tokens of Latin-1 text as ASCII, separated by spaces, one character for one; or None
    when the text is not Latin-1 or has a character the byte table cannot fold."""
    try:
        raw = text.encode("latin-1")
    except UnicodeEncodeError:
        return None
    for c in LATIN1_UNSAFE:
        if c in text:
            return None
    return raw.translate(_LATIN1_TABLE).decode("ascii")


def _tokenize_whole(text: str) -> list[str]:
    """``tokenize`` of text with no fast path: all of it normalized at once."""
    return _tokens_of_normalized(normalize_nonascii(presep(text)))


class _ChunkTokens(dict[str, tuple[str, ...]]):
    """Whitespace-free chunk of original text -> its tokens (bounded cache, filled on use).

    Text is tokenized chunk by chunk, ``str.split()`` apart, without changing a token: no
    whitespace character is a word character, stripped, a symbol, or part of a canonical
    composition, and each has combining class 0, so none joins, splits or merges with what
    is around it (checked by the tests). News vocabulary repeats, so the costly
    normalization runs once per distinct word, not once per text.
    """

    MAX = 100_000

    def __missing__(self, chunk: str) -> tuple[str, ...]:
        if len(self) >= self.MAX:
            self.clear()
        out = self[chunk] = tuple(_tokenize_whole(chunk))
        return out


_BY_CHUNK = _ChunkTokens()


def _tokens_by_chunk(text: str) -> list[str]:
    return list(chain.from_iterable(map(_BY_CHUNK.__getitem__, text.split())))


class Kept(NamedTuple):
    """What ``tokenize_keep`` returns."""

    tokens: list[str]
    norm: str  # the normalized text the tokens were read from
    aligned: bool  # norm is ASCII, separators are spaces, one character for each of text's


def tokenize(text: str) -> list[str]:
    """The normalized tokens of ``text``, in order."""
    if text.isascii():
        return text.translate(_ASCII_TABLE).split()
    text = presep(text)
    if text.isascii():
        return text.translate(_ASCII_TABLE).split()
    spaced = _latin1_spaced(text)
    if spaced is not None:
        return spaced.split()
    return _tokens_by_chunk(text)


def tokenize_lazy(text: str) -> tuple[list[str], Kept | None]:
    """``tokenize(text)``, and ``tokenize_keep(text)`` when it comes at no extra cost (ASCII
    and most Latin-1 text); None otherwise (ask ``tokenize_keep`` when offsets are needed)."""
    if text.isascii():
        norm = text.translate(_ASCII_TABLE)
        tokens = norm.split()
        return tokens, Kept(tokens, norm, True)
    s = presep(text)  # one character for one
    if s.isascii():
        norm = s.translate(_ASCII_TABLE)
        tokens = norm.split()
        return tokens, Kept(tokens, norm, True)
    spaced = _latin1_spaced(s)
    if spaced is not None:
        tokens = spaced.split()
        return tokens, Kept(tokens, spaced, True)
    return _tokens_by_chunk(s), None


def tokenize_keep(text: str) -> Kept:
    """``tokenize(text)`` and the normalized text the tokens were read from.

    ``token_spans`` and ``token_offsets`` turn them into the tokens' offsets in ``text``.
    """
    if text.isascii():
        norm = text.translate(_ASCII_TABLE)
        return Kept(norm.split(), norm, True)
    s = presep(text)  # one character for one
    if s.isascii():
        norm = s.translate(_ASCII_TABLE)
        return Kept(norm.split(), norm, True)
    spaced = _latin1_spaced(s)
    if spaced is not None:
        return Kept(spaced.split(), spaced, True)
    norm = normalize_nonascii(s)
    if norm.isascii():
        norm = norm.translate(_ASCII_TABLE)
        return Kept(norm.split(), norm, False)
    return Kept(_tokens_of_normalized(norm), norm, False)
