"""The shared text toolkit: control characters, single lines, bounded length."""

from __future__ import annotations

import sys

import pytest

from monitor.text import display_line, one_line, remove_controls, truncate


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("a\tb", "a b"),
        ("a\r\nb\rc", "a\nb\nc"),
        ("bell\x07 nul\x00 esc\x1b", "bell nul esc"),
        ("c1\x80\x9f end", "c1 end"),
        ("lone\ud83d surrogate", "lone surrogate"),
        ("non\ufffe\uffffchar", "nonchar"),
        ("rtl \u200f and emoji 🍏 stay", "rtl \u200f and emoji 🍏 stay"),
    ],
)
def test_remove_controls(raw: str, clean: str) -> None:
    assert remove_controls(raw) == clean


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 10, "short"),
        ("exactly10!", 10, "exactly10!"),
        ("the quick brown fox jumps", 16, "the quick brown…"),
        ("the quick brown fox jumps", 12, "the quick…"),
        ("supercalifragilistic", 8, "superca…"),  # no space near the end: hard cut
        ("a bcdefghijklmnopqrstuvwxyz", 10, "a bcdefgh…"),
    ],
)
def test_truncate(text: str, limit: int, expected: str) -> None:
    assert truncate(text, limit) == expected
    assert len(truncate(text, limit)) <= limit


def test_one_line() -> None:
    assert one_line(" a\n b\t c ") == "a b c"


# The two cleanings differ on purpose (see monitor/text.py); this table pins each difference.
@pytest.mark.parametrize(
    ("raw", "stored", "displayed"),
    [
        (" a\n b\t c ", "a b c", "a b c"),
        ("a\r\nb", "a b", "a b"),
        ("a\rb", "a b", "ab"),  # a lone \r: a line end in a feed field, a control in a webhook
        ("x\ud800y", "xy", "x\ufffdy"),  # a lone surrogate: dropped, or replaced
        ("\ud83d\ude00", "", "😀"),  # a surrogate pair: dropped, or joined
        ("a\u202eb\u2066c", "a\u202eb\u2066c", "abc"),  # bidi controls only leave chat text
        ("a\ufffe\uffffb", "ab", "a\ufffe\uffffb"),  # non-characters only leave feed fields
        ("a\x00\x1b\x7f\x85b", "ab", "ab"),
        ("\u3000a\xa0b\u2028c\u3000", "a b c", "a b c"),
    ],
)
def test_one_line_and_display_line(raw: str, stored: str, displayed: str) -> None:
    assert one_line(raw) == stored
    assert display_line(raw) == displayed


def test_both_lines_collapse_every_whitespace_character() -> None:
    spaces = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]
    kept = [s for s in spaces if s not in "\x1c\x1d\x1e\x1f\x85"]  # controls, dropped by both
    text = "a" + "".join(kept) + "b" + "".join(kept)
    assert one_line(text) == display_line(text) == "a b"
