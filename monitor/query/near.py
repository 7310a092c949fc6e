"""NEAR and ONEAR: two positional operands within a distance, in one field.

Evaluated only when both sides occur somewhere (two cheap tests), then over the sides'
sorted spans in each field both can match in. Explain marks only the occurrences that are
within the distance.

Work grows with the distinct spans, never with the ways of making them: a NEAR's spans are
a set (a chained NEAR only compares its operand's start and end), and explain walks back
down, marking in each operand the spans the pairs above it used (``Positional.mark``).
Every span pair compared costs a step of the rule's budget (``Document.steps``); when it is
spent the search stops where it is.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator

from monitor.query.document import Document, Span
from monitor.query.evaluate import Hit, Positional
from monitor.query.nodes import Near, near_fields

__all__ = ["CompiledNear"]

# an operand's span, the other operand's span, and their hull: a span of the NEAR
Pair = tuple[Span, Span, Span]


def _pairs(
    d: Document, a_spans: list[Span], b_spans: list[Span], n: int, ordered: bool
) -> Iterator[Pair]:
    """Pairs of non-overlapping spans, one of each list (both ascending), at most ``n``
    positions apart, with their hull. ``ordered``: only pairs where ``a`` comes first.

    Each ``a`` span looked at and each pair costs a step of ``d.steps``, and one search
    spends at most half of what is left: the NEARs a chained NEAR is made of are searched
    first, and must leave it something to search with.
    """
    stop = d.steps // 2
    starts = [s[0] for s in b_spans]
    for a in a_spans:  # a, then b
        if d.steps <= stop:
            return
        end = a[1]
        lo, hi = bisect_right(starts, end), bisect_right(starts, end + n)
        hi = min(hi, lo + d.steps - stop - 1)
        d.steps -= 1 + hi - lo
        for b in b_spans[lo:hi]:
            yield a, b, (a[0], b[1])
    if ordered:
        return
    by_end = sorted(b_spans, key=lambda s: s[1])
    ends = [s[1] for s in by_end]
    for a in a_spans:  # b, then a
        if d.steps <= stop:
            return
        start = a[0]
        lo, hi = bisect_left(ends, start - n), bisect_left(ends, start)
        hi = min(hi, lo + d.steps - stop - 1)
        d.steps -= 1 + hi - lo
        for b in by_end[lo:hi]:
            yield a, b, (b[0], a[1])


class CompiledNear(Positional):
    """``left NEAR/n right`` (``ordered``: ONEAR, left first), in ``near_fields``."""

    def __init__(self, node: Near, left: Positional, right: Positional) -> None:
        self.left, self.right = left, right
        self.n, self.ordered = node.distance, node.ordered
        self.fields = near_fields(node)
        self.cost = left.cost + right.cost + 4.0
        lt, rt, fields, n, ordered = left.test, right.test, self.fields, self.n, self.ordered

        def test(d: Document) -> bool:
            if not (lt(d) and rt(d)):  # both present somewhere: cheap, and usually false
                return False
            for f in fields:
                a = left.spans(d, f)
                b = right.spans(d, f) if a else []
                for _ in _pairs(d, a, b, n, ordered):
                    return True
            return False

        self.test = test

    def _found(self, d: Document, f: str) -> list[Pair]:
        """Every pair in field ``f`` (memoized per item: explain walks them twice)."""
        key = (self, f)
        found = d.memo.get(key)
        if found is None:
            a = self.left.spans(d, f)
            b = self.right.spans(d, f) if a else []
            found = d.memo[key] = list(_pairs(d, a, b, self.n, self.ordered))
        return found

    def spans(self, d: Document, f: str) -> list[Span]:
        return sorted({hull for _, _, hull in self._found(d, f)})

    def mark(self, d: Document, f: str, wanted: set[Span]) -> list[Hit]:
        used = [(a, b) for a, b, hull in self._found(d, f) if hull in wanted]
        return self._mark_sides(d, f, used)

    def _mark_sides(self, d: Document, f: str, used: list[tuple[Span, Span]]) -> list[Hit]:
        if not used:
            return []
        lefts = {a for a, _ in used}
        rights = {b for _, b in used}
        return self.left.mark(d, f, lefts) + self.right.mark(d, f, rights)

    def explain(self, d: Document) -> list[Hit] | None:
        hits = {
            hit
            for f in self.fields
            for hit in self._mark_sides(d, f, [(a, b) for a, b, _ in self._found(d, f)])
        }
        return sorted(hits) or None
