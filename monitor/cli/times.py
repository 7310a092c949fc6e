"""Times as the commands print them: ``5m``, ``2h ago``, ``3d from now``."""

from __future__ import annotations


def span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def ago(ts: float | None, now: float) -> str:
    if ts is None:
        return "never"
    delta = now - ts
    return f"{span(abs(delta))} {'ago' if delta >= 0 else 'from now'}"
