"""Microsoft Teams: an Adaptive Card whose feed text is only ever in TextRuns.

TextRuns of RichTextBlocks are never read as markdown; TextBlock markdown has no escape
that renders the same on every Teams client. So feed text goes out as it is (``PLAIN``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.documents.json_formats import json_bytes
from monitor.documents.links import safe_link
from monitor.documents.markup import (
    BLANK,
    DIGEST_LINE_TITLE,
    LABEL_LIMIT,
    PLAIN,
    SNIPPET_LIMIT,
    TITLE_LIMIT,
    UNTITLED,
    Span,
    digest_heading,
    fit,
    more_line,
    snippet_spans,
)
from monitor.text import display_line

# Teams rejects messages over about 28 KB; leave room for what Workflows wraps around it.
TEAMS_MAX_BYTES = 24_000


def _plain(value: str, limit: int) -> list[Span]:
    return fit([(display_line(value), False)], limit, PLAIN)


def _runs(spans: Sequence[Span], **style: Any) -> list[dict[str, Any]]:
    merged: list[Span] = []  # one run per change of style keeps the card small
    for part, bold in spans:
        if merged and merged[-1][1] == bold:
            merged[-1] = (merged[-1][0] + part, bold)
        else:
            merged.append((part, bold))
    return [
        {"type": "TextRun", "text": part, **style, **({"weight": "Bolder"} if bold else {})}
        for part, bold in merged
    ]


def _rich(inlines: list[dict[str, Any]], **style: Any) -> dict[str, Any]:
    return {"type": "RichTextBlock", "inlines": inlines, **style}


def _teams_message(body: list[dict[str, Any]], link: str | None) -> dict[str, Any]:
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "msteams": {"width": "Full"},
    }
    if link:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open article", "url": link}]
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
        ],
    }


def render_teams(payload: dict[str, Any]) -> tuple[str, bytes]:
    data = payload["data"]
    item = data["item"]
    title = _plain(display_line(item["title"]) or UNTITLED, TITLE_LIMIT)
    about = [("Rule: ", True), *_plain(data["rule"] or BLANK, LABEL_LIMIT)]
    about += [(" · Feed: ", True), *_plain(data["feed"]["name"] or BLANK, LABEL_LIMIT)]
    if item["published"]:
        about += [(" · Published: ", True), *_plain(item["published"], LABEL_LIMIT)]
    body = [
        _rich(_runs(title, size="Large", weight="Bolder")),
        _rich(_runs(about, isSubtle=True), spacing="Small"),
    ]
    link = safe_link(item["link"])
    # Matches are added while the message stays under the size limit; each one is bounded,
    # so the title and labels alone are always far below it.
    for match in data["matches"]:
        label = [*_plain(str(match["field"]), LABEL_LIMIT), (": ", False)]
        spans = label + fit(snippet_spans(match["snippet"]), SNIPPET_LIMIT, PLAIN)
        candidate = [*body, _rich(_runs(spans), spacing="Small")]
        if len(json_bytes(_teams_message(candidate, link))) > TEAMS_MAX_BYTES:
            break
        body = candidate
    return "application/json", json_bytes(_teams_message(body, link))


def render_digest_teams(payload: dict[str, Any]) -> tuple[str, bytes]:
    data = payload["data"]
    body = [_rich(_runs(_plain(digest_heading(data), LABEL_LIMIT), size="Large", weight="Bolder"))]
    shown = 0
    for entry in data["alerts"]:
        title = _plain(display_line(entry["title"]) or UNTITLED, DIGEST_LINE_TITLE)
        runs = _runs(title, weight="Bolder")
        link = safe_link(entry["link"])
        if link:
            for run in runs:
                run["selectAction"] = {"type": "Action.OpenUrl", "url": link}
        runs += _runs([(" · ", False), *_plain(entry["rule"] or BLANK, LABEL_LIMIT)])
        candidate = [*body, _rich(runs, spacing="Small")]
        more = more_line(data["count"], shown + 1)
        tail = [_rich(_runs([(more, False)], isSubtle=True))] if more else []
        if len(json_bytes(_teams_message([*candidate, *tail], None))) > TEAMS_MAX_BYTES:
            break
        body = candidate
        shown += 1
    more = more_line(data["count"], shown)
    if more:
        body.append(_rich(_runs([(more, False)], isSubtle=True)))
    return "application/json", json_bytes(_teams_message(body, None))
