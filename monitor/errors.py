"""The exception tree. User mistakes print as one line; nothing here needs a traceback.

::

    MonitorError
     ├── ConfigError          a config file, include or rule is wrong (exit code 2)
     ├── QuerySyntaxError     a rule query does not parse (carries the position)
     ├── FetchError           a feed could not be fetched (kind says why)
     ├── FeedParseError       a body is not a usable feed
     ├── StoreError           the state store is unreachable or inconsistent
     └── DeliveryError        a webhook target is misconfigured

Feed and delivery failures inside the pipeline are recorded as values (outcomes with a
reason), not raised across steps: one failure stays one failure.
"""

from __future__ import annotations


class MonitorError(Exception):
    """Base of every error news-monitor raises on purpose."""


class ConfigError(MonitorError):
    """The configuration is invalid. ``str(err)`` is one line naming file, line and key."""


class QuerySyntaxError(MonitorError):
    """A query does not parse.

    ``position`` is the 0-based character offset of the problem in ``query``.
    """

    def __init__(self, message: str, query: str, position: int) -> None:
        super().__init__(message)
        self.message = message
        self.query = query
        self.position = position

    def caret(self, width: int = 76) -> str:
        """The query and a caret under the offending position, two lines; a long query is
        shown as the ``width`` characters around the position (a hostile one can be huge)."""
        start = max(0, min(self.position - width // 2, len(self.query) - width))
        end = start + width
        shown = ("…" if start else "") + self.query[start:end]
        shown += "…" if end < len(self.query) else ""
        indent = self.position - start + (1 if start else 0)
        return f"{shown}\n{' ' * indent}^"

    def __str__(self) -> str:
        return f"{self.message} at position {self.position}"


class FetchError(MonitorError):
    """A fetch failed. ``kind`` is a short machine-readable reason (``timeout``, ...)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class FeedParseError(MonitorError):
    """The body is not a feed we can read."""


class StoreError(MonitorError):
    """The state store failed."""


class DeliveryError(MonitorError):
    """A webhook target is unusable (bad secret, unknown format)."""
