"""Normalization: the one folding under which text and query words are compared.

``normalize``, in this order:

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

ASCII text is lowered; Latin-1 text goes through NFKD and a few ``str.replace``; everything
else through ``unicodedata``, compiled regexes (split in two sets, since ``re`` checks
character classes within the BMP with a bitmap) and a ``str.replace`` chain. The character
tables and regexes here are shared with tokenization (``monitor.query.tokens``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

__all__ = [
    "ASTRAL_RE",
    "BMP",
    "FOLDS",
    "INVISIBLE",
    "MARKS",
    "STRIPPED",
    "STRIPPED_ONE",
    "SYMBOLS",
    "Patterns",
    "is_wordish",
    "normalize",
    "normalize_nonascii",
    "patterns_for",
    "ranges_class",
]


def ranges_class(chars: Iterable[int]) -> str:
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


def is_wordish(ch: str) -> bool:
    """Whether ``ch`` is part of a word before normalization (letter, digit, mark, invisible)."""
    cp = ord(ch)
    return ch.isalnum() or cp in MARKS or cp in INVISIBLE


def _symbols() -> frozenset[int]:
    out = []
    for cp in (*range(0xA0, 0x3400), *range(0xF900, 0x10000), *range(0x1D000, 0x1F300)):
        ch = chr(cp)
        if is_wordish(ch) or ch == "_":
            continue
        dec = unicodedata.normalize("NFKD", ch)
        if dec != ch and any(is_wordish(c) for c in dec):
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


class Patterns:
    """The regexes of the non-ASCII path. Python's ``re`` checks a class of code points below
    U+10000 with a bitmap but a class reaching beyond it range by range, about 4x slower; so
    there are two sets, and text with no astral character (nearly all) uses the BMP one."""

    def __init__(self, limit: int) -> None:
        def cls(cps: frozenset[int]) -> str:
            return ranges_class(cp for cp in cps if cp < limit)

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


BMP = Patterns(0x10000)
STRIPPED_ONE = re.compile(f"[{ranges_class(cp for cp in STRIPPED if cp < 0x10000)}]")
FULL = Patterns(0x110000)
ASTRAL_RE = re.compile("[\U00010000-\U0010ffff]")


def patterns_for(text: str) -> Patterns:
    """The regexes that cover ``text``: the BMP ones unless it has an astral character."""
    return FULL if ASTRAL_RE.search(text) else BMP


def _finish(decomposed: str, pats: Patterns) -> str:
    """Steps 3-5 on NFKD + casefolded text."""
    s = pats.strip.sub("", decomposed)
    for a, b in _FOLD_ITEMS:
        s = s.replace(a, b)
    return unicodedata.normalize("NFC", s)


def normalize_nonascii(text: str) -> str:
    """``normalize`` of text that is not ASCII."""
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        pats = patterns_for(text)  # NFKD of a BMP character stays in the BMP
        text = pats.symbol.sub(" ", text)
        return _finish(unicodedata.normalize("NFKD", text).casefold(), pats)
    # Latin-1: its few symbols (¨ ¯ ´ ¸) decompose to a space and a stripped mark, which is
    # what replacing them by a space gives; accents come out as the marks below.
    s = unicodedata.normalize("NFKD", text).casefold()
    for mark in _LATIN1_MARKS:
        s = s.replace(mark, "")
    return s if s.isascii() else _finish(s, BMP)


def normalize(text: str) -> str:
    """The folding used for matching (see the module docstring); keeps punctuation."""
    if text.isascii():
        return text.lower()
    return normalize_nonascii(text)
