"""Stemming: cached Snowball stemmers, by language, for rules with ``stem:``."""

from __future__ import annotations

import threading
from collections.abc import Callable

import snowballstemmer

__all__ = ["STEMS", "stemmer"]


class _StemCache(dict[str, str]):
    """token -> stem, filled on first use; a miss takes a lock (Snowball stemmers keep state)."""

    MAX = 200_000

    def __init__(self, language: str) -> None:
        super().__init__()
        self._stemmer = snowballstemmer.stemmer(language)
        self._lock = threading.Lock()

    def __missing__(self, token: str) -> str:
        with self._lock:
            if len(self) >= self.MAX:
                self.clear()
            stem: str = self._stemmer.stemWord(token)
            self[token] = stem
            return stem


#: Lowercase language -> its stem function, for every language ``stemmer`` has made: the
#: matcher reads its rules' stemmers from here, without the lock.
STEMS: dict[str, Callable[[str], str]] = {}
_STEMS_LOCK = threading.Lock()


def stemmer(language: str) -> Callable[[str], str]:
    """A cached Snowball stemmer for ``language`` (e.g. ``"english"``), as a function.

    Raises ``ValueError`` naming the known languages when there is no such stemmer.
    """
    key = language.strip().lower()
    with _STEMS_LOCK:
        stem = STEMS.get(key)
        if stem is None:
            if key not in snowballstemmer.algorithms():
                known = ", ".join(snowballstemmer.algorithms())
                raise ValueError(f"unknown stemmer language {language!r} (known: {known})")
            stem = STEMS[key] = _StemCache(key).__getitem__
    return stem
