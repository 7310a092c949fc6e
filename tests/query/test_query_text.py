"""Normalization and tokenization: tables, and the fast paths against the plain definition."""

from __future__ import annotations

import sys
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.query import normalize, tokenize
from monitor.query.document import link_text
from monitor.query.fold import FOLDS, MARKS, STRIPPED, SYMBOLS
from monitor.query.spans import token_offsets, token_spans, tokenize_spans
from monitor.query.stem import stemmer
from monitor.query.tokens import tokenize_keep, tokenize_lazy


def reference_normalize(text: str) -> str:
    """The definition in the module docstring, one character at a time."""
    s = "".join(" " if ord(c) in SYMBOLS else c for c in text)
    s = unicodedata.normalize("NFKD", s).casefold()
    s = "".join(c for c in s if ord(c) not in STRIPPED)
    s = "".join(FOLDS.get(c, c) for c in s)
    return unicodedata.normalize("NFC", s)


def reference_tokenize(text: str) -> list[str]:
    out: list[str] = []
    word = ""
    for c in reference_normalize(text):
        if (c.isalnum() and c != "_") or ord(c) in MARKS:
            word += c
        elif word:
            out.append(word)
            word = ""
    return [*out, word] if word else out


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Coalition", "coalition"),
        ("ZÜRICH Zürich", "zurich zurich"),
        ("São Paulo, Bogotá", "sao paulo, bogota"),
        ("Straße", "strasse"),  # casefold, not lower
        ("ΆΘΗΝΑ ς", "αθηνα σ"),  # Greek accents and final sigma
        ("İstanbul", "istanbul"),
        ("ﬁnal ＡＢＣ ²", "final abc 2"),  # NFKC: ligature, fullwidth, superscript
        ("Apple™ ℃", "apple   "),  # symbols with letters inside become a space
        ("e\u0301", "e"),  # combining accent
        ("soft\u00adhyphen zero\u200bwidth", "softhyphen zerowidth"),
        ("Łódź Kraków", "łodz krakow"),  # ł has no decomposition
        ("ي ى ی ې", "ی ی ی ی"),  # Arabic/Urdu/Pashto yeh
        ("ك ک", "ک ک"),  # kaf
        ("ه ہ ھ ة ۃ", "ہ ہ ہ ہ ہ"),  # heh forms and teh marbuta
        ("حكومة", "حکومہ"),
        ("يُوَدِّعُ", "یودع"),  # harakat removed
        ("اسلامـــــآباد", "اسلاماباد"),  # tatweel removed, madda dropped
        ("أحمد إسلام", "احمد اسلام"),  # hamza on alef dropped
        ("٢٠١٦ ۲۰۱۶", "2016 2016"),  # Arabic-Indic and Urdu digits
        ("استعفیٰ", "استعفی"),  # superscript alef
        ("हिन्दी", "हिन्दी"),  # Devanagari marks are spelling: kept
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected
    assert reference_normalize(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("  ,;  ", []),
        ("The MQM-P chairman", ["the", "mqm", "p", "chairman"]),
        ("party’s “final” decision—now…", ["party", "s", "final", "decision", "now"]),
        ("don't snake_case", ["don", "t", "snake", "case"]),
        ("1,000 3.5% 2024-05-01", ["1", "000", "3", "5", "2024", "05", "01"]),
        ("Zürich/München", ["zurich", "munchen"]),
        ("عمران خان نے حکومت کو چھ روز کا الٹی میٹم دے دیا۔", None),
        ("«Hola», ¿qué tal?", ["hola", "que", "tal"]),
        ("हिन्दी भाषा", ["हिन्दी", "भाषा"]),
        ("a\u200cb", ["ab"]),  # zero-width non-joiner joins
        ("½ cup", ["1", "2", "cup"]),
        ("emoji 😀 ok 𝐀𝐁", ["emoji", "ok", "ab"]),
    ],
)
def test_tokenize(text: str, expected: list[str] | None) -> None:
    tokens = tokenize(text)
    assert tokens == reference_tokenize(text)
    if expected is not None:
        assert tokens == expected
    else:
        assert len(tokens) == 12
        assert tokens[-1] == "دیا"


@pytest.mark.parametrize(
    "text",
    [
        "The MQM-P chairman’s “ultimatum”.",
        "Zürich Straße São Paulo Ærø",
        "Nestlé æble_x Ærø ¿qué?",
        "وزیراعلیٰ نے کہا، دعویٰ\nكيف هو يُوَدِّعُ",
        "Apple™ ℃ ½ ﬁne",
        "soft\u00adhyphen a\u200cb",
        "emoji 😀 ok",
        "ｆｕｌｌ ｗｉｄｔｈ",
    ],
)
def test_tokenize_spans_point_into_the_original(text: str) -> None:
    tokens, spans = tokenize_spans(text)
    assert tokens == tokenize(text)
    assert len(spans) == len(tokens)
    for token, (start, end) in zip(tokens, spans, strict=True):
        assert token in tokenize(text[start:end])


def test_token_spans_of_aligned_text() -> None:
    text = "Khan’s party  (MQM-P) quits!"
    kept = tokenize_keep(text)
    tokens, norm, aligned = kept
    assert aligned
    spans = token_spans(text, norm, tokens)
    assert spans is not None
    assert [text[s:e] for s, e in spans] == ["Khan", "s", "party", "MQM", "P", "quits"]
    offsets = token_offsets(text, kept)
    assert offsets is not None
    assert offsets([5, 1]) == {1: spans[1], 5: spans[5]}
    # removed characters (harakat) are skipped over
    urdu = "وزیراعلیٰ نے کہا"
    tokens, norm, aligned = tokenize_keep(urdu)
    assert not aligned  # harakat are removed
    spans = token_spans(urdu, norm, tokens)
    assert spans is not None
    assert [urdu[s:e] for s, e in spans] == ["وزیراعلیٰ", "نے", "کہا"]
    # an expanding character cannot be placed: the caller falls back to tokenize_spans
    tokens, norm, _ = tokenize_keep("Straße")
    assert token_spans("Straße", norm, tokens) is None


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=40), st.text(st.characters(max_codepoint=0x24F), max_size=40)))
def test_fast_paths_equal_the_definition(text: str) -> None:
    assert normalize(text) == reference_normalize(text)
    assert tokenize(text) == reference_tokenize(text)
    tokens, spans = tokenize_spans(text)
    assert tokens == tokenize(text)
    assert all(0 <= s < e <= len(text) for s, e in spans)
    lazy, kept = tokenize_lazy(text)
    assert lazy == tokens
    assert kept is None or kept == tokenize_keep(text)


_WHITESPACE = [chr(cp) for cp in range(sys.maxunicode + 1) if chr(cp).isspace()]


def test_whitespace_neither_joins_nor_merges() -> None:
    """What lets ``tokenize`` work chunk by chunk, ``str.split()`` apart (``_ChunkTokens``)."""
    ws = set(_WHITESPACE)
    for w in _WHITESPACE:
        assert unicodedata.combining(w) == 0
        assert ord(w) not in STRIPPED | SYMBOLS | MARKS
        decomposed = unicodedata.normalize("NFKD", w)
        assert not any(c.isalnum() or unicodedata.combining(c) for c in decomposed)
        ws.update(decomposed)
    for cp in range(sys.maxunicode + 1):
        d = unicodedata.decomposition(chr(cp))
        if d and not d.startswith("<") and " " in d:  # a canonical composition
            assert not {chr(int(x, 16)) for x in d.split()} & ws, hex(cp)


_CHUNKY = st.text(
    alphabet=st.sampled_from(
        [
            *_WHITESPACE,
            *"ae\u06cc\u0301\u093e\u1100\u1161\u11a8\u200c\u00ad\u0640\u064a\ufb01\u00bd\u2122.",
            "\u03a9",
            "\U0001d400",
        ]
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(_CHUNKY)
def test_chunk_by_chunk_equals_the_definition(text: str) -> None:
    assert tokenize(text) == reference_tokenize(text)
    assert tokenize_lazy(text)[0] == reference_tokenize(text)


_LATINISH = st.text(
    alphabet=st.sampled_from([*"aAeéÉiöüßøæ ,.-’“”_\u00ad", "½", "İ", "ـ", "ی", "ك"]),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(_LATINISH)
def test_spans_cover_their_tokens(text: str) -> None:
    tokens, spans = tokenize_spans(text)
    assert tokens == reference_tokenize(text)
    for token, (s, e) in zip(tokens, spans, strict=True):
        assert token in reference_tokenize(text[s:e])
    kept = tokenize_keep(text)
    tokens, norm, aligned = kept
    full = token_spans(text, norm, tokens)
    offsets = token_offsets(text, kept)
    if aligned:
        assert full is not None
    if full is None:
        assert offsets is None
    else:
        assert offsets is not None
        assert offsets(range(0, len(tokens), 2)) == {i: full[i] for i in range(0, len(tokens), 2)}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://www.Dawn.com:443/news/123/mqm-p-quits?utm=x#top",
            "www.dawn.com/news/123/mqm-p-quits",
        ),
        ("https://www.bbc.com/urdu/%D8%A7%D8%AA%D8%AD%D8%A7%D8%AF", "www.bbc.com/urdu/اتحاد"),
        ("http://xn--bcher-kva.example/x", "bücher.example/x"),
        ("dawn.com/news", "dawn.com/news"),
        ("", ""),
    ],
)
def test_link_text(url: str, expected: str) -> None:
    assert link_text(url) == expected


def test_stemmer() -> None:
    stem = stemmer("English")
    assert stem("resigned") == stem("resigns") == stem("resign")
    with pytest.raises(ValueError, match="unknown stemmer language 'klingon'"):
        stemmer("klingon")
