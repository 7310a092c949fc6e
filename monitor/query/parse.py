"""Query text -> AST. Pure; every error is a ``QuerySyntaxError`` with a 0-based position.

Grammar (lowest precedence first; ``NOT`` binds tightest)::

    query   := or
    or      := and ( "OR" and )*
    and     := near ( ["AND"] near )*                 adjacent operands are ANDed
    near    := unary ( ("NEAR/" n | "ONEAR/" n) unary )*        left-associative
    unary   := ("NOT" | "-") unary | primary
    primary := word | '"' phrase '"' | "(" or ")" | field ":" primary | "lang:" code

Words are normalized and tokenized like item text (``monitor.query.tokens``): a word that
tokenizes to several tokens (``MQM-P``, ``don't``) is a phrase of them. ``*`` ending a word
makes that word a prefix. Field scopes are pushed down to the terms (the innermost scope wins);
``NEAR`` operands must be terms, phrases, wildcards, OR-groups or NEARs of them. The tokens
come from ``monitor.query.lexer``, the nodes are those of ``monitor.query.nodes``.

The limits of ``monitor.query.limits`` (length, terms, nesting, NEARs per expression) are
checked as the parser goes, before it would recurse past them, so no input can make it (or
any later walk over the AST) exhaust the stack.
"""

from __future__ import annotations

import re
from dataclasses import replace

from monitor.errors import QuerySyntaxError
from monitor.query.lexer import QueryToken, lex
from monitor.query.limits import MAX_DEPTH, MAX_NEAR_OPERATORS, MAX_QUERY_CHARS, MAX_TERMS
from monitor.query.nodes import And, Lang, Near, Node, Not, Or, Query, Term, near_fields
from monitor.query.spans import tokenize_spans
from monitor.query.tokens import tokenize

__all__ = ["parse_query"]

_LANG_RE = re.compile(r"[A-Za-z]{2,3}")
_OPERAND_START = frozenset(["word", "phrase", "(", "NOT", "field"])


def _describe(tok: QueryToken) -> str:
    if tok.kind == "field":
        return f"'{tok.text}:'"
    return {"end": "end of query", "phrase": "phrase"}.get(tok.kind, repr(tok.text))


class _Parser:
    def __init__(self, q: str) -> None:
        self.q = q
        self.toks = lex(q)
        self.i = 0
        self.depth = 0  # open parentheses and NOTs around the current token
        self.terms = 0

    def enter(self, tok: QueryToken) -> None:
        """Go one level deeper (a group or a NOT), or fail before recursing too far."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(
                f"nested too deeply: more than {MAX_DEPTH} levels of parentheses and NOT",
                tok.pos,
            )

    def error(self, message: str, pos: int) -> QuerySyntaxError:
        return QuerySyntaxError(message, self.q, pos)

    def peek(self) -> QueryToken:
        return self.toks[self.i]

    def take(self) -> QueryToken:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def need_operand(self, op: QueryToken) -> None:
        if self.peek().kind not in _OPERAND_START:
            what = "'-'" if op.text == "-" else op.text
            raise self.error(f"missing term after {what}", op.pos)

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise self.error("empty query", 0)
        node = self.or_expr()
        tok = self.peek()
        if tok.kind == ")":
            raise self.error("unbalanced parenthesis: ')' has no matching '('", tok.pos)
        if tok.kind != "end":  # pragma: no cover - every other token starts or joins an operand
            raise self.error(f"unexpected {_describe(tok)}", tok.pos)
        return node

    def or_expr(self) -> Node:
        items = [self.and_expr()]
        while self.peek().kind == "OR":
            self.need_operand(self.take())
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(_flat(Or, items), items[0].pos)

    def and_expr(self) -> Node:
        items = [self.near_expr()]
        while True:
            kind = self.peek().kind
            if kind == "AND":
                self.need_operand(self.take())
            elif kind not in _OPERAND_START:
                break
            items.append(self.near_expr())
        return items[0] if len(items) == 1 else And(_flat(And, items), items[0].pos)

    def near_expr(self) -> Node:
        left = self.unary()
        nears = _near_count(left)
        while self.peek().kind == "NEAR":
            op = self.take()
            self.need_operand(op)
            right = self.unary()
            for side in (left, right):
                if bad := _not_span(side):
                    raise self.error(
                        f"{op.text} operands must be terms, phrases, wildcards or OR-groups "
                        f"of them, not {bad[0]}",
                        bad[1].pos,
                    )
            nears += 1 + _near_count(right)
            if nears > MAX_NEAR_OPERATORS:
                raise self.error(
                    f"too many NEARs in one proximity expression (at most {MAX_NEAR_OPERATORS})",
                    op.pos,
                )
            left = Near(left, right, op.distance, op.ordered, op.pos)
        return left

    def unary(self) -> Node:
        tok = self.peek()
        if tok.kind == "NOT":
            self.take()
            self.need_operand(tok)
            self.enter(tok)
            child = self.unary()
            self.depth -= 1
            return Not(child, tok.pos)
        return self.primary()

    def primary(self) -> Node:
        tok = self.take()
        match tok.kind:
            case "word" | "phrase":
                return self.term(tok)
            case "(":
                if self.peek().kind == ")":
                    raise self.error("empty parentheses", tok.pos)
                if self.peek().kind == "end":
                    raise self.error("unbalanced parenthesis: '(' is never closed", tok.pos)
                self.enter(tok)
                node = self.or_expr()
                self.depth -= 1
                if self.peek().kind != ")":
                    raise self.error("unbalanced parenthesis: '(' is never closed", tok.pos)
                self.take()
                return node
            case "field":
                nxt = self.peek()
                if tok.text == "lang":
                    self.take()
                    if nxt.kind != "word" or not _LANG_RE.fullmatch(nxt.text):
                        raise self.error("lang: takes one language code such as ur or en", nxt.pos)
                    return Lang(nxt.text.lower(), tok.pos)
                if nxt.kind not in ("word", "phrase", "("):
                    raise self.error(
                        f"'{tok.text}:' applies to a term, phrase or group, not {_describe(nxt)}",
                        nxt.pos,
                    )
                return self.scope(self.primary(), tok.text)
            case "AND" | "OR" | "NEAR":
                raise self.error(f"{tok.text} needs a term on its left", tok.pos)
            case ")":
                raise self.error("unbalanced parenthesis: ')' has no matching '('", tok.pos)
        raise self.error(f"unexpected {_describe(tok)}", tok.pos)  # pragma: no cover

    def scope(self, node: Node, name: str) -> Node:
        match node:
            case Term():
                return node if node.fields else replace(node, fields=(name,))
            case And(children) | Or(children):
                return replace(node, children=tuple(self.scope(c, name) for c in children))
            case Not(child):
                return replace(node, child=self.scope(child, name))
            case Near(left, right):
                return replace(node, left=self.scope(left, name), right=self.scope(right, name))
            case Lang():
                raise self.error(f"lang: cannot be inside '{name}:'", node.pos)
        raise TypeError(node)  # pragma: no cover

    def term(self, tok: QueryToken) -> Term:
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise self.error(f"too many terms (at most {MAX_TERMS})", tok.pos)
        raw = tok.text
        base = tok.pos + (1 if tok.kind == "phrase" else 0)
        words, spans = tokenize_spans(raw)
        ends = {end for _, end in spans}
        for k, ch in enumerate(raw):
            if ch != "*":
                continue
            if k not in ends:
                raise self.error("'*' must end a word, as in ultimatum*", base + k)
            if tokenize(raw[k + 1 : k + 2]):  # a letter right after it
                raise self.error("'*' may only end a word, not stand inside it", base + k)
        if not words:
            if tok.kind == "phrase":
                raise self.error("empty phrase", tok.pos)
            hint = " (operators are AND, OR, NOT)" if raw.strip("&|!") == "" else ""
            raise self.error(f"'{raw}' has no letters or digits{hint}", tok.pos)
        prefix = tuple(end < len(raw) and raw[end] == "*" for _, end in spans)
        label = " ".join(raw.split())
        return Term(tuple(words), prefix, None, label, tok.pos)


def _flat(kind: type[And] | type[Or], items: list[Node]) -> tuple[Node, ...]:
    out: list[Node] = []
    for item in items:
        out.extend(item.children if isinstance(item, kind) else (item,))
    return tuple(out)


def _not_span(node: Node) -> tuple[str, Node] | None:
    """What makes ``node`` unusable as a NEAR operand (and where), or None."""
    match node:
        case Term() | Near():
            return None
        case Or(children):
            return next((b for c in children if (b := _not_span(c))), None)
        case And():
            return "AND", node
        case Not():
            return "NOT", node
        case Lang():
            return "lang:", node
    raise TypeError(node)  # pragma: no cover


def _near_count(node: Node) -> int:
    """The NEAR/ONEAR operators in a NEAR operand (its depth is already within the limits)."""
    match node:
        case Near(left, right):
            return 1 + _near_count(left) + _near_count(right)
        case Or(children):
            return sum(map(_near_count, children))
    return 0


def _matches_empty(node: Node) -> bool:
    """Whether ``node`` matches an item with no text and no language."""
    match node:
        case Not(child):
            return not _matches_empty(child)
        case And(children):
            return all(map(_matches_empty, children))
        case Or(children):
            return any(map(_matches_empty, children))
    return False


def _first_not(node: Node) -> int:
    match node:
        case Not():
            return node.pos
        case And(children) | Or(children):
            return min((_first_not(c) for c in children), default=node.pos)
    return 1 << 30


def _check(q: str, node: Node) -> None:
    match node:
        case Near(left, right):
            if not near_fields(node):
                raise QuerySyntaxError(
                    f"{node.keyword} compares positions within one field, but its sides "
                    f"search different fields",
                    q,
                    node.pos,
                )
            _check(q, left)
            _check(q, right)
        case And(children) | Or(children):
            for c in children:
                _check(q, c)
        case Not(child):
            _check(q, child)


def parse_query(text: str) -> Query:
    """Parse query text. Raises ``QuerySyntaxError`` whose ``position`` points at the problem.

    A query must require something: one that matches an item with none of its words
    (``NOT a``, ``-a -b``, ``a OR NOT b``) is an error, since it would alert on nearly
    every item. So is one past the limits of ``monitor.query.limits``.
    """
    if len(text) > MAX_QUERY_CHARS:
        raise QuerySyntaxError(
            f"query too long: {len(text):,} characters (at most {MAX_QUERY_CHARS:,})",
            text,
            MAX_QUERY_CHARS,
        )
    parser = _Parser(text)
    root = parser.parse()
    _check(text, root)
    if _matches_empty(root):
        raise QuerySyntaxError(
            "the query requires no term: with only NOT/- (or 'x OR NOT y') it would match "
            "almost every item; add a term that must appear",
            text,
            _first_not(root),
        )
    return Query(text, root)
