"""NEAR and ONEAR: two positional operands within a distance, in one field.

Evaluated only when both sides occur somewhere (two cheap tests), then over the sides'
sorted spans in each field both can match in. Explain marks only the occurrences that are
within the distance.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from typing import Any

from monitor.query.document import Document, Span
from monitor.query.evaluate import Hit, Positional, PSpan
from monitor.query.nodes import Near, near_fields

__all__ = ["CompiledNear"]


def _pairs(
    a_spans: Sequence[Any], b_spans: Sequence[Any], n: int, ordered: bool
) -> Iterator[tuple[Any, Any]]:
    """(earlier, later) pairs of non-overlapping spans at most ``n`` positions apart.

    ``ordered``: only pairs where the earlier span comes from ``a_spans``.
    """
    by_start = sorted(b_spans, key=lambda s: s[0])
    starts = [s[0] for s in by_start]
    for a in a_spans:  # a, then b
        end = a[1]
        for b in by_start[bisect_right(starts, end) : bisect_right(starts, end + n)]:
            yield a, b
    if ordered:
        return
    by_end = sorted(b_spans, key=lambda s: s[1])
    ends = [s[1] for s in by_end]
    for a in a_spans:  # b, then a
        start = a[0]
        for b in by_end[bisect_left(ends, start - n) : bisect_left(ends, start)]:
            yield b, a


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
                for _ in _pairs(a, b, n, ordered):
                    return True
            return False

        self.test = test

    def spans(self, d: Document, f: str) -> list[Span]:
        a = self.left.spans(d, f)
        b = self.right.spans(d, f) if a else []
        return list({(x[0], y[1]) for x, y in _pairs(a, b, self.n, self.ordered)})

    def pspans(self, d: Document, f: str) -> list[PSpan]:
        a = self.left.pspans(d, f)
        b = self.right.pspans(d, f) if a else []
        return [(x[0], y[1], x[2] + y[2]) for x, y in _pairs(a, b, self.n, self.ordered)]

    def explain(self, d: Document) -> list[Hit] | None:
        hits = {h for f in self.fields for _, _, prov in self.pspans(d, f) for h in prov}
        return sorted(hits) or None
