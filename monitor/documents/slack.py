"""Slack: a Block Kit message of ``mrkdwn`` sections, the title linked to the item."""

from __future__ import annotations

from typing import Any

from monitor.documents.json_formats import json_bytes
from monitor.documents.links import MAX_LINK, safe_link
from monitor.documents.markup import (
    BLANK,
    DIGEST_LINE_TITLE,
    LABEL_LIMIT,
    TITLE_LIMIT,
    UNTITLED,
    digest_heading,
    escaping_markup,
    fill_lines,
    match_lines,
    more_line,
    text,
)

# Slack Block Kit: https://api.slack.com/reference/block-kit
SLACK_SECTION_TEXT = 3000

# Slack has no escape for its formatting characters, so they become look-alikes that
# never format; & < > become the entities Slack documents, which kills <!channel>,
# <@U123> and <http://evil|bank.com> from feed text.
SLACK = escaping_markup(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", "*": "∗", "_": "ˍ", "~": "∼", "`": "ˋ"}, bold="*"
)


def _slack_text(markdown: str) -> dict[str, Any]:
    # verbatim: no auto-linking of URLs or names in feed text; our own <url|title> stays.
    return {"type": "mrkdwn", "text": markdown, "verbatim": True}


def _slack_link(url: str) -> str:
    """The item's link as it goes in ``<link|title>``; ``""`` if it has none to show."""
    # safe_link leaves no < > | in a link; & is the one character of it Slack reads.
    link = (safe_link(url) or "").replace("&", "&amp;")
    # The entity escapes may lengthen a link; past MAX_LINK it would crowd out the title.
    return link if len(link) <= MAX_LINK else ""


def render_slack(payload: dict[str, Any]) -> tuple[str, bytes]:
    data = payload["data"]
    item = data["item"]
    title = text(item["title"], TITLE_LIMIT, SLACK, placeholder=UNTITLED)
    link = _slack_link(item["link"])
    heading = f"*<{link}|{title}>*" if link else f"*{title}*"
    blocks: list[dict[str, Any]] = [{"type": "section", "text": _slack_text(heading)}]
    lines = match_lines(data["matches"], SLACK_SECTION_TEXT, SLACK)
    if lines:
        blocks.append({"type": "section", "text": _slack_text("\n".join(lines))})
    rule = text(data["rule"], LABEL_LIMIT, SLACK, placeholder=BLANK)
    context = [
        f"Rule: *{rule}*",
        f"Feed: {text(data['feed']['name'], LABEL_LIMIT, SLACK, placeholder=BLANK)}",
    ]
    if item["published"]:
        context.append(f"Published: {text(item['published'], LABEL_LIMIT, SLACK)}")
    blocks.append({"type": "context", "elements": [_slack_text(part) for part in context]})
    fallback = f"{rule}: {title}"
    message = {
        "text": fallback,
        "blocks": blocks,
        "unfurl_links": False,
        "unfurl_media": False,
    }
    return "application/json", json_bytes(message)


def render_digest_slack(payload: dict[str, Any]) -> tuple[str, bytes]:
    data = payload["data"]
    heading = text(digest_heading(data), LABEL_LIMIT, SLACK)
    lines = []
    for entry in data["alerts"]:
        title = text(entry["title"], DIGEST_LINE_TITLE, SLACK, placeholder=UNTITLED)
        link = _slack_link(entry["link"])
        entry_text = f"<{link}|{title}>" if link else title
        lines.append(
            f"• {entry_text} · {text(entry['rule'], LABEL_LIMIT, SLACK, placeholder=BLANK)}"
        )
    kept, count = fill_lines(lines, SLACK_SECTION_TEXT)
    blocks: list[dict[str, Any]] = [{"type": "section", "text": _slack_text(f"*{heading}*")}]
    if kept:
        blocks.append({"type": "section", "text": _slack_text("\n".join(kept))})
    more = more_line(data["count"], count)
    if more:
        blocks.append({"type": "context", "elements": [_slack_text(more)]})
    message = {"text": heading, "blocks": blocks, "unfurl_links": False, "unfurl_media": False}
    return "application/json", json_bytes(message)
