"""Explain data: a matching rule's hits placed in the original text, as ``FieldHit``s.

The positive terms of the satisfied branches (for a NEAR, only the occurrences within the
distance) are grouped by field; each field gets a snippet of about ``SNIPPET_WIDTH``
characters around its first hit, hits wrapped in ``**``. Offsets come from the normalized
text when it is aligned with the original (ASCII, most Latin-1, Arabic script with harakat),
from a word-by-word pass otherwise (``monitor.query.spans``).
"""

from __future__ import annotations

from monitor.models import FieldHit
from monitor.query.document import GAP_BITS, Document, ItemField, Span
from monitor.query.evaluate import Hit
from monitor.query.limits import SNIPPET_TOKENS, SNIPPET_WIDTH
from monitor.query.nodes import FIELDS

__all__ = ["field_hits"]


def field_hits(d: Document, hits: list[Hit], labels: list[str]) -> tuple[FieldHit, ...]:
    """One ``FieldHit`` per field with hits, in field order; ``labels[tid]`` names term
    ``tid`` as the query wrote it."""
    by_field: dict[str, list[Hit]] = {}
    for hit in hits:
        by_field.setdefault(hit[0], []).append(hit)
    return tuple(_field_hit(d.field(f), f, by_field[f], labels) for f in FIELDS if f in by_field)


def _field_hit(field: ItemField, name: str, hits: list[Hit], labels: list[str]) -> FieldHit:
    terms = tuple(dict.fromkeys(labels[tid] for tid in sorted({h[3] for h in hits})))
    first = min(h[1] for h in hits)
    k = first >> GAP_BITS
    base = k << GAP_BITS
    window = first + SNIPPET_TOKENS  # the snippet shows no token past this one
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
