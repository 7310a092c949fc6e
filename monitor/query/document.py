"""An item prepared for matching: its fields tokenized once, indexes shared by every rule.

Title, summary and content are tokenized eagerly, the other fields (author, category, link,
feed) when a rule asks. Everything else is built on first use: the set of distinct tokens,
each field's ``" tok tok "`` string (phrases and wildcards are substring searches in it,
positions are counted from it), per-field token sets, stemmed views, and a memo of term
positions and NEAR pairs. ``steps`` is what is left of the positional work budget of the
rule being evaluated (``MAX_RULE_STEPS``; the rule set resets it for each rule).

Positions of different values of a multi-valued field (two authors) are kept
``2**GAP_BITS`` apart, so proximity and phrases never span two values.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote, urlsplit

from monitor.models import Item
from monitor.query.limits import MAX_RULE_STEPS
from monitor.query.nodes import DEFAULT_FIELDS
from monitor.query.spans import token_offsets, tokenize_spans
from monitor.query.stem import STEMS
from monitor.query.tokens import Kept, tokenize_keep, tokenize_lazy
from monitor.query.vocabulary import Key, TokenKeys

__all__ = ["GAP_BITS", "Document", "ItemField", "Span", "link_text"]

GAP_BITS = 20  # values of a multi-valued field are 2**20 positions apart

# (first, last) token position, or (start, end) character offset
Span = tuple[int, int]


class ItemField:
    """One field of one item: its values, their tokens, and indexes built on first use.

    Word positions are found by substring search in ``joined`` (``" tok tok "``) and counting
    the spaces before each hit, both in C; a multi-valued field (authors) keeps a position
    dict instead, its values ``2**GAP_BITS`` positions apart.
    """

    __slots__ = (
        "_joined",
        "_locators",
        "_occ",
        "_pos",
        "_set",
        "_views",
        "groups",
        "kept",
        "values",
    )

    def __init__(
        self,
        values: tuple[str, ...],
        groups: list[list[str]],
        kept: list[Kept | None] | None = None,
    ) -> None:
        self.values = values
        self.groups = groups  # tokens of each value
        self.kept = kept  # how each value was tokenized (to find offsets), if known
        self._set: set[str] | None = None
        self._joined: str | None = None
        self._occ: dict[str, list[int]] = {}
        self._pos: dict[str, list[int]] | None = None
        self._views: dict[str, ItemField] | None = None
        self._locators: dict[int, Callable[[Iterable[int]], dict[int, Span]] | None] | None = None

    @classmethod
    def of(cls, values: tuple[str, ...]) -> ItemField:
        kept = [tokenize_keep(v) for v in values]
        return cls(values, [k.tokens for k in kept], [*kept])

    @classmethod
    def single(cls, text: str) -> ItemField:
        tokens, kept = tokenize_lazy(text)  # ``kept`` is made when explaining, if not here
        return cls((text,), [tokens], [kept])

    @property
    def set(self) -> set[str]:
        if self._set is None:
            self._set = set().union(*self.groups)
        return self._set

    @property
    def joined(self) -> str:
        """``" tok tok "``, values separated by NUL, for phrase search by substring."""
        if self._joined is None:
            self._joined = " " + " \x00 ".join(" ".join(g) for g in self.groups) + " "
        return self._joined

    def occurrences(self, word: str, prefix: bool = False) -> list[int]:
        """Ascending virtual positions of ``word`` (of a word starting with it if ``prefix``)."""
        key = word + "*" if prefix else word
        found = self._occ.get(key)
        if found is not None:
            return found
        if len(self.groups) == 1:
            joined = self.joined
            needle = " " + word if prefix else " " + word + " "
            found = []
            index, at = 0, 0
            hit = joined.find(needle)
            while hit >= 0:
                index += joined.count(" ", at, hit)
                found.append(index)
                at = hit
                hit = joined.find(needle, hit + len(needle) - 1)
        elif prefix:
            pos = self.pos
            found = sorted(p for tok in self.set if tok.startswith(word) for p in pos[tok])
        else:
            found = self.pos.get(word, [])
        self._occ[key] = found
        return found

    @property
    def pos(self) -> dict[str, list[int]]:
        """token -> ascending virtual positions (value index << GAP_BITS | token index)."""
        if self._pos is None:
            pos: dict[str, list[int]] = {}
            for k, group in enumerate(self.groups):
                for i, tok in enumerate(group, k << GAP_BITS):
                    lst = pos.get(tok)
                    if lst is None:
                        pos[tok] = [i]
                    else:
                        lst.append(i)
            self._pos = pos
        return self._pos

    def view(self, lang: str | None) -> ItemField:
        """This field with every token replaced by its stem (``lang``), or itself."""
        if lang is None:
            return self
        if self._views is None:
            self._views = {}
        view = self._views.get(lang)
        if view is None:
            stem = STEMS[lang]
            groups = [list(map(stem, g)) for g in self.groups]
            view = self._views[lang] = ItemField(self.values, groups)
        return view

    def char_spans(self, k: int, indexes: Iterable[int]) -> dict[int, Span] | None:
        """Character spans of some tokens (by index) of value ``k``, or None if the tokens
        cannot be placed in the text."""
        if self._locators is None:
            self._locators = {}
        if k not in self._locators:
            self._locators[k] = self._locator(k)
        locate = self._locators[k]
        return None if locate is None else locate(indexes)

    def _locator(self, k: int) -> Callable[[Iterable[int]], dict[int, Span]] | None:
        text, tokens = self.values[k], self.groups[k]
        if self.kept is not None:
            kept = self.kept[k] or tokenize_keep(text)
            offsets = token_offsets(text, kept) if kept.tokens == tokens else None
            if offsets is not None:
                return offsets
        found, spans = tokenize_spans(text)  # slow path: word by word
        if found != tokens:
            return None
        return lambda indexes: {i: spans[i] for i in indexes}


def _primary_lang(tag: str) -> str:
    """``ur`` for ``ur-PK`` or ``ur_PK``, lowercase."""
    return tag.strip().replace("_", "-").split("-", 1)[0].lower()


def _field_values(item: Item, name: str) -> tuple[str, ...]:
    """The searchable values of field ``name`` of ``item``."""
    if name == "author":
        return item.authors
    if name == "category":
        return item.categories
    if name == "link":
        return (link_text(item.link),) if item.link else ()
    if name == "feed":
        return (item.feed,) if item.feed else ()
    return (getattr(item, name),)


def link_text(url: str) -> str:
    """The searchable part of a link: host and percent-decoded path (``host/path``)."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
    except ValueError:
        return url
    if "xn--" in host:
        with contextlib.suppress(UnicodeError):
            host = host.encode("ascii").decode("idna")
    return host + unquote(parts.path)


class Document:
    """An item prepared for matching: tokenized once, indexes shared by every rule.

    ``present``: the vocabulary keys (see ``TokenKeys``) that occur in title, summary or
    content -- the prefilter's hits and the word lookups of every rule, from one pass.
    """

    __slots__ = ("_djoined", "fields", "item", "lang", "memo", "present", "steps")

    def __init__(self, item: Item, keys: TokenKeys) -> None:
        self.item = item
        self.lang = _primary_lang(item.lang)
        title = ItemField.single(item.title)
        summary = ItemField.single(item.summary)
        content = ItemField.single(item.content)
        self.fields = {"title": title, "summary": summary, "content": content}
        groups = (title.groups[0], summary.groups[0], content.groups[0])
        self.present: set[Key] = keys.present(groups)
        self._djoined: dict[str | None, str] = {}
        self.memo: dict[Any, list[Any]] = {}
        self.steps = MAX_RULE_STEPS

    def field(self, name: str) -> ItemField:
        f = self.fields.get(name)
        if f is None:
            f = self.fields[name] = ItemField.of(_field_values(self.item, name))
        return f

    def default_joined(self, lang: str | None) -> str:
        """Title, summary and content as one ``" tok tok \\x00 tok "`` (NUL between fields,
        so a phrase cannot run from one into the next), stemmed for ``lang``."""
        s = self._djoined.get(lang)
        if s is None:
            parts = (self.fields[f].view(lang).joined for f in DEFAULT_FIELDS)
            s = self._djoined[lang] = "\x00".join(parts)
        return s
