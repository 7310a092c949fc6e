"""The text toolkit every chat format shares; feed text is hostile.

Text is cleaned and put on one line, each character is escaped for the target markup, and
it is cut to the target's limit on a character boundary with an ellipsis, counting the
escapes. Digests add a heading and whole lines fitted to a limit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.text import ELLIPSIS, display_line

DIGEST_LINE_TITLE = 150  # one digest line's title; its snippet is left out in chat formats
UNTITLED = "(untitled)"
BLANK = "-"  # shown for a blank label: Slack and Discord refuse empty text
TITLE_LIMIT = 250  # display budgets, under every platform limit
LABEL_LIMIT = 200  # rule, feed, authors, categories
SNIPPET_LIMIT = 600  # one match line

Span = tuple[str, bool]  # (text, is a matched hit)


@dataclass(frozen=True, slots=True)
class Markup:
    """How a target writes plain characters and bold hits."""

    escape_char: Callable[[str], str]
    bold: str  # put on both sides of a hit; "" when the target styles hits otherwise


# For targets that never read markup: Teams TextRuns and plain-text messages.
PLAIN = Markup(escape_char=str, bold="")


def escaping_markup(escapes: dict[str, str], *, bold: str) -> Markup:
    """A markup that writes each character through ``escapes``, and breaks every mention."""
    # A zero-width space after every @ breaks @everyone, @here, @channel and <@id> in any
    # client that would still parse them (allowed_mentions, link_names and the like).
    table = str.maketrans({"@": "@\u200b", **escapes})
    return Markup(escape_char=lambda char: char.translate(table), bold=bold)


def units(text: str) -> int:
    """Length as JavaScript counts it (UTF-16 code units), never below the code points.

    Counting this way keeps us within a limit whichever of the two a platform means.
    """
    return len(text.encode("utf-16-le")) // 2


def snippet_spans(snippet: str) -> list[Span]:
    """Split a ``**hit**`` snippet into spans; an unpaired ``**`` stays literal text."""
    parts = display_line(snippet).split("**")
    if len(parts) % 2 == 0:
        parts[-2:] = [parts[-2] + "**" + parts[-1]]
    return [(part, index % 2 == 1) for index, part in enumerate(parts) if part]


def fit(spans: Sequence[Span], limit: int, markup: Markup) -> list[Span]:
    """Escape ``spans`` and keep as much as fits in ``limit`` units, bold markers counted.

    A cut ends on a whole escaped character, closes any open hit and adds an ellipsis.
    """
    escaped = [([markup.escape_char(char) for char in text], bold) for text, bold in spans]
    marker_cost = 2 * units(markup.bold)

    def cost(pieces: list[str], bold: bool) -> int:
        return sum(units(piece) for piece in pieces) + (marker_cost if bold else 0)

    if sum(cost(pieces, bold) for pieces, bold in escaped) <= limit:
        return [("".join(pieces), bold) for pieces, bold in escaped]
    budget = limit - units(ELLIPSIS)
    kept: list[Span] = []
    for pieces, bold in escaped:
        used = marker_cost if bold else 0
        taken: list[str] = []
        for piece in pieces:
            if used + units(piece) > budget:
                break
            taken.append(piece)
            used += units(piece)
        if taken:
            kept.append(("".join(taken), bold))
            budget -= used
        if len(taken) < len(pieces):
            break
    if budget >= 0:
        kept.append((ELLIPSIS, False))
    return kept


def join(spans: Sequence[Span], markup: Markup) -> str:
    return "".join(f"{markup.bold}{text}{markup.bold}" if bold else text for text, bold in spans)


def text(value: str, limit: int, markup: Markup, *, placeholder: str = "") -> str:
    """One escaped line of plain feed text within ``limit``; ``placeholder`` if blank."""
    return join(fit([(display_line(value) or placeholder, False)], limit, markup), markup)


def match_lines(matches: Sequence[dict[str, Any]], limit: int, markup: Markup) -> list[str]:
    """``field: snippet`` lines with hits in bold, newline-joined within ``limit`` units."""
    lines: list[str] = []
    remaining = limit
    for match in matches:
        label = text(str(match["field"]), LABEL_LIMIT, markup) + ": "
        room = min(SNIPPET_LIMIT, remaining - (1 if lines else 0)) - units(label)
        if room <= units(ELLIPSIS):
            break
        line = label + join(fit(snippet_spans(match["snippet"]), room, markup), markup)
        remaining -= units(line) + (1 if lines else 0)
        lines.append(line)
    return lines


# --- digests: a heading and a compact list, one line per alert ------------------------------


def digest_heading(data: dict[str, Any]) -> str:
    what = f"rule {display_line(data['rule'])}" if data.get("rule") else f"{data['kind']} digest"
    return f"{data['count']} alerts ({what}), {data['window']['start']} to {data['window']['end']}"


def fill_lines(lines: Sequence[str], limit: int) -> tuple[list[str], int]:
    """As many whole lines as fit in ``limit`` units newline-joined; and how many fit."""
    kept: list[str] = []
    used = 0
    for line in lines:
        cost = units(line) + (1 if kept else 0)
        if used + cost > limit:
            break
        kept.append(line)
        used += cost
    return kept, len(kept)


def more_line(total: int, shown: int) -> str:
    """``and N more`` for the alerts a digest message had no room for; ``""`` if none."""
    return f"and {total - shown} more" if total > shown else ""
