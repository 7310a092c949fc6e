"""The query AST: immutable node records, the searchable fields, and canonical text.

``parse_query`` (``monitor.query.parse``) builds it; the matcher compiles it. Positions
(``pos``) are 0-based offsets in the query text, for error messages; they do not take part
in equality.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "DEFAULT_FIELDS",
    "FIELDS",
    "MAX_NEAR",
    "And",
    "Lang",
    "Near",
    "Node",
    "Not",
    "Or",
    "Query",
    "Term",
    "dump",
    "near_fields",
]

#: Searchable fields, in the order explain data lists them.
FIELDS: tuple[str, ...] = ("title", "summary", "content", "author", "category", "link", "feed")
#: What a term without a field searches.
DEFAULT_FIELDS: tuple[str, ...] = ("title", "summary", "content")
#: The largest NEAR/ONEAR distance.
MAX_NEAR = 1000


@dataclass(frozen=True, slots=True)
class Term:
    """A word or phrase: ``words`` are normalized tokens; ``prefix[i]`` marks ``word*``."""

    words: tuple[str, ...]
    prefix: tuple[bool, ...]
    fields: tuple[str, ...] | None = None  # None: DEFAULT_FIELDS
    label: str = field(default="", compare=False)  # as written, for explain data
    pos: int = field(default=0, compare=False)

    @property
    def scope(self) -> tuple[str, ...]:
        return self.fields or DEFAULT_FIELDS


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Not:
    child: Node
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Near:
    """``left`` and ``right`` within ``distance`` word positions (``ordered``: left first)."""

    left: Node
    right: Node
    distance: int
    ordered: bool
    pos: int = field(default=0, compare=False)

    @property
    def keyword(self) -> str:
        return f"{'ONEAR' if self.ordered else 'NEAR'}/{self.distance}"


@dataclass(frozen=True, slots=True)
class Lang:
    """Filter: the item's language primary subtag equals ``code`` (lowercase)."""

    code: str
    pos: int = field(default=0, compare=False)


Node = Term | And | Or | Not | Near | Lang


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query. ``str(query)`` is a canonical, fully parenthesized form."""

    text: str
    root: Node

    def __str__(self) -> str:
        return dump(self.root)


def dump(node: Node) -> str:
    """Canonical text of a node: ``(a AND (b OR c))``, ``title:"a b*"``, ``NOT x``."""
    match node:
        case Term(words, prefix, fields):
            body = " ".join(w + ("*" if p else "") for w, p in zip(words, prefix, strict=True))
            text = f'"{body}"' if len(words) > 1 else body
            return f"{fields[0]}:{text}" if fields else text
        case And(children):
            return "(" + " AND ".join(map(dump, children)) + ")"
        case Or(children):
            return "(" + " OR ".join(map(dump, children)) + ")"
        case Not(child):
            return f"NOT {dump(child)}"
        case Near(left, right):
            return f"({dump(left)} {node.keyword} {dump(right)})"
        case Lang(code):
            return f"lang:{code}"
    raise TypeError(node)  # pragma: no cover


def _span_fields(node: Node) -> set[str]:
    """The fields where a NEAR operand can have a span (for an OR: any child can)."""
    match node:
        case Term():
            return set(node.scope)
        case Or(children):
            return set.union(*map(_span_fields, children))
        case Near(left, right):
            return _span_fields(left) & _span_fields(right)
    return set()  # pragma: no cover


def near_fields(node: Near) -> tuple[str, ...]:
    """The fields a NEAR is evaluated in: those both sides can match in, in field order."""
    both = _span_fields(node.left) & _span_fields(node.right)
    return tuple(f for f in FIELDS if f in both)
