"""The query lexer: query text -> tokens (words, phrases, parentheses, operators, fields).

Errors found here (unterminated quote, unknown field, bad ``NEAR/n``) are
``QuerySyntaxError`` with the 0-based position of the problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from monitor.errors import QuerySyntaxError
from monitor.query.nodes import FIELDS, MAX_NEAR

__all__ = ["QueryToken", "TokenKind", "lex"]

TokenKind = Literal["word", "phrase", "(", ")", "AND", "OR", "NOT", "NEAR", "field", "end"]


@dataclass(frozen=True, slots=True)
class QueryToken:
    """One lexeme: ``distance``/``ordered`` are set for NEAR and ONEAR."""

    kind: TokenKind
    text: str
    pos: int
    distance: int = 0
    ordered: bool = False


_FIELD_RE = re.compile(r"([A-Za-z]+):")
_NEAR_RE = re.compile(r"(O?NEAR)(/.*)?")
_ALL_FIELDS = (*FIELDS, "lang")


def lex(q: str) -> list[QueryToken]:
    """The tokens of query text ``q``, ending with an ``end`` token."""
    toks: list[QueryToken] = []
    i, n = 0, len(q)
    while i < n:
        c = q[i]
        if c.isspace():
            i += 1
        elif c in "()":
            toks.append(QueryToken(c, c, i))  # type: ignore[arg-type]
            i += 1
        elif c == '"':
            j = q.find('"', i + 1)
            if j < 0:
                raise QuerySyntaxError('unterminated quote: this " is never closed', q, i)
            toks.append(QueryToken("phrase", q[i + 1 : j], i))
            i = j + 1
        elif c == "-":
            if i + 1 >= n or q[i + 1].isspace() or q[i + 1] == ")":
                raise QuerySyntaxError("'-' must be followed by a term (no space)", q, i)
            toks.append(QueryToken("NOT", "-", i))
            i += 1
        else:
            j = i
            while j < n and not q[j].isspace() and q[j] not in '()"':
                j += 1
            run = q[i:j]
            if m := _FIELD_RE.match(run):
                name = m.group(1).lower()
                if name not in _ALL_FIELDS:
                    known = ", ".join(f"{f}:" for f in _ALL_FIELDS)
                    raise QuerySyntaxError(
                        f"unknown field '{m.group(1)}:' (known: {known}; quote a phrase "
                        f"to search for a colon)",
                        q,
                        i,
                    )
                after = i + m.end()
                if after >= n or q[after].isspace() or q[after] == ")":
                    raise QuerySyntaxError(f"missing term after '{name}:'", q, i)
                toks.append(QueryToken("field", name, i))
                i = after
                continue
            if run in ("AND", "OR", "NOT"):
                toks.append(QueryToken(run, run, i))  # type: ignore[arg-type]
            elif m := _NEAR_RE.fullmatch(run):
                kw, num = m.group(1), (m.group(2) or "/")[1:]
                if not num.isascii() or not num.isdigit():
                    raise QuerySyntaxError(f"{kw} needs a distance in words, e.g. {kw}/5", q, i)
                dist = int(num)
                if not 1 <= dist <= MAX_NEAR:
                    raise QuerySyntaxError(
                        f"{kw} distance must be between 1 and {MAX_NEAR}", q, i + len(kw) + 1
                    )
                toks.append(QueryToken("NEAR", run, i, dist, kw == "ONEAR"))
            else:
                toks.append(QueryToken("word", run, i))
            i = j
    toks.append(QueryToken("end", "", n))
    return toks
