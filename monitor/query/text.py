"""Normalization and tokenization: the one way text and query words are compared.

**Normalization** (``normalize``), in this order:

1. Symbols that are not letters themselves but whose compatibility form holds letters, digits
   or marks become a space (``™`` → " ", not "TM"; ``℃``, ``№``, ``≠`` likewise), so
   ``Apple™`` still reads as ``apple``.
2. NFKD (compatibility decomposition: fullwidth ``ＡＢＣ``, ligatures ``ﬁ``, superscripts,
   Arabic presentation forms all become their plain letters), then ``str.casefold``.
3. Removed: the accents and points of Latin, Greek, Cyrillic and Hebrew (combining marks in
   U+0300-036F and the other "combining diacritical" blocks, Hebrew points), Arabic harakat,
   superscript alef and Quranic marks, the tatweel ``ـ``, and invisible format characters
   (soft hyphen, zero-width space/joiners, bidi marks) -- these join what they split.
   Marks of other scripts (Devanagari vowel signs, virama...) are part of the spelling and kept.
4. Arabic-script letter forms are folded to one form each: yeh ``ي ى ی ې`` → ``ی``;
   kaf ``ك`` → ``ک``; heh ``ه ہ ھ ە`` and teh marbuta ``ة ۃ`` → ``ہ``; alef wasla ``ٱ`` → ``ا``
   (hamza-carrying and madda alefs lose their mark in step 3); Arabic-Indic and extended
   (Urdu/Persian) digits → ASCII digits. Folding ``ھ`` (do-chashmi) with ``ہ`` is deliberate:
   older Urdu text writes both with Arabic ``ه``, so only the folded form matches across
   sources (the price: ``کھا`` and ``کہا`` compare equal).
5. NFC (recomposes what is left, e.g. Hangul syllables).

**Tokenization** (``tokenize``): a token is a maximal run of letters, digits and marks of the
normalized text (``\\w`` less ``_``, plus Unicode marks). Everything else separates words:
spaces, punctuation, ``_``, apostrophes (``party's`` → ``party``, ``s``) and hyphens
(``MQM-P`` → ``mqm``, ``p``).

Both run at C speed, with no loop over characters in Python: ASCII text (after replacing
common typographic punctuation such as ``’ “ ” — …`` by spaces, which tokenizes the same)
goes through one ``str.translate`` and ``str.split``; Latin-1 text through one
``bytes.translate`` with a folding table (or NFKD and a few ``str.replace`` when it holds
``ß æ ø ...``); everything else through ``unicodedata``, compiled regexes (split in two sets,
since ``re`` checks character classes within the BMP with a bitmap) and a ``str.replace``
chain, one whitespace-separated chunk at a time with a cache of each chunk's tokens
(``_ChunkTokens``: whitespace never joins, splits or merges words, and news vocabulary
repeats). The hypothesis tests check every fast path against the plain definition.
``tokenize_spans`` and ``token_offsets`` give the tokens' spans in the original text, for
snippets.
"""

from __future__ import annotations

import contextlib
import functools
import re
import threading
import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Iterable
from functools import partial
from itertools import accumulate, chain, compress
from operator import add
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

import snowballstemmer

__all__ = [
    "Kept",
    "link_text",
    "normalize",
    "stemmer",
    "token_offsets",
    "token_spans",
    "tokenize",
    "tokenize_keep",
    "tokenize_lazy",
    "tokenize_spans",
]


def _ranges_class(chars: Iterable[int]) -> str:
    """A regex character-class body for a set of code points, as ranges."""
    cps = sorted(set(chars))
    out: list[str] = []
    i = 0
    while i < len(cps):
        j = i
        while j + 1 < len(cps) and cps[j + 1] == cps[j] + 1:
            j += 1
        lo, hi = cps[i], cps[j]
        out.append(re.escape(chr(lo)) if lo == hi else f"{re.escape(chr(lo))}-{re.escape(chr(hi))}")
        i = j + 1
    return "".join(out)


def _cat(cp: int) -> str:
    return unicodedata.category(chr(cp))


# --- character tables (built once at import, ~15 ms) -------------------------------------

#: Every combining mark (categories Mn, Mc, Me): part of a word for tokenization.
MARKS: frozenset[int] = frozenset(
    cp for cp in (*range(0x0300, 0x20000), *range(0xE0100, 0xE01F0)) if _cat(cp)[0] == "M"
)

#: Invisible format characters removed by normalization (they join, never split, words).
INVISIBLE: frozenset[int] = frozenset(
    [
        *(0x00AD, 0x061C, 0x180E, 0xFEFF),
        *range(0x200B, 0x2010),
        *range(0x202A, 0x202F),
        *range(0x2060, 0x2065),
        *range(0x2066, 0x2070),
        *range(0xE0000, 0xE0080),
    ]
)

_STRIP_BLOCKS = (
    (0x0300, 0x0370),  # combining diacritical marks (Latin, Greek, Cyrillic accents)
    (0x0483, 0x048A),  # Cyrillic combining marks
    (0x0591, 0x05C8),  # Hebrew points and accents
    (0x0610, 0x061B),  # Arabic honorific marks
    (0x064B, 0x0660),  # Arabic harakat, hamza above/below, madda
    (0x0670, 0x0671),  # superscript (dagger) alef
    (0x06D6, 0x06EE),  # Quranic annotation marks
    (0x08D3, 0x0900),  # extended Arabic marks
    (0x1AB0, 0x1B00),  # combining diacritical marks extended
    (0x1DC0, 0x1E00),  # combining diacritical marks supplement
    (0x20D0, 0x2100),  # combining marks for symbols
    (0xFE20, 0xFE30),  # combining half marks
)

#: Removed by normalization: accents/points/harakat (marks in the blocks above), tatweel,
#: and the invisible characters.
STRIPPED: frozenset[int] = frozenset(
    [cp for lo, hi in _STRIP_BLOCKS for cp in range(lo, hi) if cp in MARKS] + [0x0640, *INVISIBLE]
)


def _is_wordish(ch: str) -> bool:
    cp = ord(ch)
    return ch.isalnum() or cp in MARKS or cp in INVISIBLE


def _symbols() -> frozenset[int]:
    out = []
    for cp in (*range(0xA0, 0x3400), *range(0xF900, 0x10000), *range(0x1D000, 0x1F300)):
        ch = chr(cp)
        if _is_wordish(ch) or ch == "_":
            continue
        dec = unicodedata.normalize("NFKD", ch)
        if dec != ch and any(_is_wordish(c) for c in dec):
            out.append(cp)
    return frozenset(out)


#: Non-word characters whose compatibility form contains word characters: become a space.
SYMBOLS: frozenset[int] = _symbols()

#: Arabic-script letter folding and digit folding (step 4).
FOLDS: dict[str, str] = {
    "ي": "ی",  # U+064A Arabic yeh
    "ى": "ی",  # U+0649 alef maksura
    "ې": "ی",  # U+06D0 Pashto yeh
    "ك": "ک",  # U+0643 Arabic kaf -> U+06A9 keheh
    "ه": "ہ",  # U+0647 Arabic heh -> U+06C1 heh goal
    "ھ": "ہ",  # U+06BE heh doachashmee
    "ە": "ہ",  # U+06D5 ae
    "ة": "ہ",  # U+0629 teh marbuta
    "ۃ": "ہ",  # U+06C3 teh marbuta goal
    "ٱ": "ا",  # U+0671 alef wasla
    **{chr(0x0660 + d): str(d) for d in range(10)},  # Arabic-Indic digits
    **{chr(0x06F0 + d): str(d) for d in range(10)},  # extended (Urdu/Persian) digits
}
_FOLD_ITEMS = tuple(FOLDS.items())
# After NFKD of Latin-1 text the only combining marks are these (Latin-1 letters' accents).
_LATIN1_MARKS = tuple(
    sorted(
        {
            c
            for cp in range(0xA0, 0x100)
            for c in unicodedata.normalize("NFKD", chr(cp))
            if ord(c) in STRIPPED
        }
    )
)


class _Patterns:
    """The regexes of the non-ASCII path. Python's ``re`` checks a class of code points below
    U+10000 with a bitmap but a class reaching beyond it range by range, about 4x slower; so
    there are two sets, and text with no astral character (nearly all) uses the BMP one."""

    def __init__(self, limit: int) -> None:
        def cls(cps: frozenset[int]) -> str:
            return _ranges_class(cp for cp in cps if cp < limit)

        self.strip = re.compile(f"[{cls(STRIPPED)}]+")
        self.symbol = re.compile(f"[{cls(SYMBOLS)}]")
        #: a token in normalized text: letters, digits, marks (``_`` is replaced before use)
        self.word = re.compile(f"[\\w{cls(MARKS)}]+")
        #: anything that is neither a word character nor whitespace
        self.other = re.compile(f"[^\\w\\s{cls(MARKS)}]")
        #: any one separator (``_`` is replaced before use)
        self.separator = re.compile(f"[^\\w{cls(MARKS)}]")
        #: a run of original text that yields tokens: word characters, marks, invisibles
        self.chunk = re.compile(f"[\\w{cls(MARKS | INVISIBLE)}]+")


_BMP = _Patterns(0x10000)
_STRIPPED_ONE = re.compile(f"[{_ranges_class(cp for cp in STRIPPED if cp < 0x10000)}]")
_FULL = _Patterns(0x110000)
_ASTRAL_RE = re.compile("[\U00010000-\U0010ffff]")


def _patterns(text: str) -> _Patterns:
    return _FULL if _ASTRAL_RE.search(text) else _BMP


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
assert all(not _is_wordish(c) and ord(c) not in STRIPPED for c in _PRESEP + _PRESEP_MORE)


def _presep(text: str) -> str:
    for ch in _PRESEP:
        text = text.replace(ch, " ")
    return text


def _finish(decomposed: str, pats: _Patterns) -> str:
    """Steps 3-5 on NFKD + casefolded text."""
    s = pats.strip.sub("", decomposed)
    for a, b in _FOLD_ITEMS:
        s = s.replace(a, b)
    return unicodedata.normalize("NFC", s)


def _normalize_nonascii(text: str) -> str:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        pats = _patterns(text)  # NFKD of a BMP character stays in the BMP
        text = pats.symbol.sub(" ", text)
        return _finish(unicodedata.normalize("NFKD", text).casefold(), pats)
    # Latin-1: its few symbols (¨ ¯ ´ ¸) decompose to a space and a stripped mark, which is
    # what replacing them by a space gives; accents come out as the marks below.
    s = unicodedata.normalize("NFKD", text).casefold()
    for mark in _LATIN1_MARKS:
        s = s.replace(mark, "")
    return s if s.isascii() else _finish(s, _BMP)


def normalize(text: str) -> str:
    """The folding used for matching (see the module docstring); keeps punctuation."""
    if text.isascii():
        return text.lower()
    return _normalize_nonascii(text)


def _tokens_of_normalized(norm: str) -> list[str]:
    if norm.isascii():
        return norm.translate(_ASCII_TABLE).split()
    norm = norm.replace("_", " ")
    for ch in _PRESEP_MORE:
        norm = norm.replace(ch, " ")
    pats = _patterns(norm)
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


_LATIN1_TABLE, _LATIN1_UNSAFE = _latin1_table()
# ... of which these do not even normalize to exactly one character
_LATIN1_MISALIGNING = tuple(c for c in _LATIN1_UNSAFE if len(normalize(c)) != 1)


def _latin1_spaced(text: str) -> str | None:
    """Tokens of Latin-1 text as ASCII, separated by spaces, one character for one; or None
    when the text is not Latin-1 or has a character the byte table cannot fold."""
    try:
        raw = text.encode("latin-1")
    except UnicodeEncodeError:
        return None
    for c in _LATIN1_UNSAFE:
        if c in text:
            return None
    return raw.translate(_LATIN1_TABLE).decode("ascii")


def _tokenize_whole(text: str) -> list[str]:
    """``tokenize`` of text with no fast path: all of it normalized at once."""
    return _tokens_of_normalized(_normalize_nonascii(_presep(text)))


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


def tokenize(text: str) -> list[str]:
    """The normalized tokens of ``text``, in order."""
    if text.isascii():
        return text.translate(_ASCII_TABLE).split()
    text = _presep(text)
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
    s = _presep(text)  # one character for one
    if s.isascii():
        norm = s.translate(_ASCII_TABLE)
        tokens = norm.split()
        return tokens, Kept(tokens, norm, True)
    spaced = _latin1_spaced(s)
    if spaced is not None:
        tokens = spaced.split()
        return tokens, Kept(tokens, spaced, True)
    return _tokens_by_chunk(s), None


_CHUNKS: dict[str, list[str]] = {}  # original word run -> its tokens (bounded cache)


class Kept(NamedTuple):
    """What ``tokenize_keep`` returns."""

    tokens: list[str]
    norm: str  # the normalized text the tokens were read from
    aligned: bool  # norm is ASCII, separators are spaces, one character for each of text's


def tokenize_keep(text: str) -> Kept:
    """``tokenize(text)`` and the normalized text the tokens were read from.

    ``token_spans`` and ``token_offsets`` turn them into the tokens' offsets in ``text``.
    """
    if text.isascii():
        norm = text.translate(_ASCII_TABLE)
        return Kept(norm.split(), norm, True)
    s = _presep(text)  # one character for one
    if s.isascii():
        norm = s.translate(_ASCII_TABLE)
        return Kept(norm.split(), norm, True)
    spaced = _latin1_spaced(s)
    if spaced is not None:
        return Kept(spaced.split(), spaced, True)
    norm = _normalize_nonascii(s)
    if norm.isascii():
        norm = norm.translate(_ASCII_TABLE)
        return Kept(norm.split(), norm, False)
    return Kept(_tokens_of_normalized(norm), norm, False)


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
    return re.compile(f"[{_ranges_class(cp for cp in cps if cp < 0x10000)}]")


def _aligned(text: str, norm: str, tokens: list[str]) -> tuple[str, list[int]] | None:
    """``norm`` with every separator a space, when its offsets can be mapped back to ``text``
    (see ``token_spans``); and where removed characters sat (to shift offsets back over)."""
    removed: list[int] = []
    if not text.isascii():
        text = _presep(text)  # one character for one
        try:
            text.encode("latin-1")
            latin1 = True
        except UnicodeEncodeError:
            latin1 = False
        if latin1:
            if any(c in text for c in _LATIN1_MISALIGNING):
                return None
        elif _ASTRAL_RE.search(text):
            return None
        elif len(norm) != len(text) or _misaligning().search(text):
            # the text with the removed characters taken out must be aligned
            removed = [m.start() for m in _STRIPPED_ONE.finditer(text)]
            rest = _BMP.strip.sub("", text)
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
                norm = _BMP.separator.sub(" ", norm.replace("_", " "))
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


_plus_one = (1).__add__
# Latin-1 bytes: word characters kept, separators (and ``_``) a space.
_LATIN1_SPACES = bytes(b if chr(b).isalnum() else 0x20 for b in range(256))


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
    for m in _patterns(text).chunk.finditer(text.replace("_", " ")):
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


def link_text(url: str) -> str:
    """The searchable part of a link: host and percent-decoded path (``host/path``)."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
    except ValueError:
        return url
    if "xn--" in host:
        with contextlib.suppress(UnicodeError):
            host = host.encode("ascii").decode("idna")
    return host + unquote(parts.path)


# --- stemming -----------------------------------------------------------------------------


class _StemCache(dict[str, str]):
    """token -> stem, filled on first use; a miss takes a lock (Snowball stemmers keep state)."""

    MAX = 200_000

    def __init__(self, language: str) -> None:
        super().__init__()
        self._stemmer = snowballstemmer.stemmer(language)
        self._lock = threading.Lock()

    def __missing__(self, token: str) -> str:
        with self._lock:
            if len(self) >= self.MAX:
                self.clear()
            stem: str = self._stemmer.stemWord(token)
            self[token] = stem
            return stem


_STEMMERS: dict[str, _StemCache] = {}
_STEMMERS_LOCK = threading.Lock()


def stemmer(language: str) -> Callable[[str], str]:
    """A cached Snowball stemmer for ``language`` (e.g. ``"english"``), as a function.

    Raises ``ValueError`` naming the known languages when there is no such stemmer.
    """
    key = language.strip().lower()
    with _STEMMERS_LOCK:
        cache = _STEMMERS.get(key)
        if cache is None:
            if key not in snowballstemmer.algorithms():
                known = ", ".join(snowballstemmer.algorithms())
                raise ValueError(f"unknown stemmer language {language!r} (known: {known})")
            cache = _STEMMERS[key] = _StemCache(key)
    return cache.__getitem__
