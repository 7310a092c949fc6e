"""One compiled rule: its query's AST compiled to evaluable nodes, its anchors, its explain."""

from __future__ import annotations

from monitor.models import FieldHit, RuleSpec
from monitor.query.anchors import cheapest_anchors
from monitor.query.document import Document
from monitor.query.evaluate import (
    Compiled,
    CompiledAnd,
    CompiledLang,
    CompiledNot,
    CompiledOr,
    CompiledTerm,
    Positional,
)
from monitor.query.explain import field_hits
from monitor.query.near import CompiledNear
from monitor.query.nodes import And, Lang, Near, Node, Not, Or, Query, Term

__all__ = ["Rule"]


class Rule:
    """A rule compiled for matching: ``test(d)`` decides, ``explain(d)`` gives its hits.

    ``terms`` (by term id) give the rule set its vocabulary, ``anchors`` file the rule in the
    candidate index; ``lang`` is the stemming language, if any.
    """

    def __init__(self, spec: RuleSpec, query: Query, lang: str | None) -> None:
        self.name = spec.name
        self.query = query
        self.lang = lang
        self.labels: list[str] = []
        self.terms: list[CompiledTerm] = []
        self.root = self._compile(query.root)
        self.test = self.root.test
        self.anchors = cheapest_anchors(query.root, lang)

    def _compile(self, node: Node) -> Compiled:
        match node:
            case Term():
                self.labels.append(node.label)
                term = CompiledTerm(node, len(self.labels) - 1, self.lang)
                self.terms.append(term)
                return term
            case And(children):
                return CompiledAnd([self._compile(c) for c in children])
            case Or(children):
                return CompiledOr([self._compile(c) for c in children])
            case Not(child):
                return CompiledNot(self._compile(child))
            case Near(left, right):
                lc, rc = self._compile(left), self._compile(right)
                assert isinstance(lc, Positional)
                assert isinstance(rc, Positional)
                return CompiledNear(node, lc, rc)
            case Lang(code):
                return CompiledLang(code)
        raise TypeError(node)  # pragma: no cover

    def explain(self, d: Document) -> tuple[FieldHit, ...]:
        return field_hits(d, self.root.explain(d) or [], self.labels)
