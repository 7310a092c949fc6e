"""Discord: one embed, feed text backslash-escaped, no mention ever parsed."""

from __future__ import annotations

from typing import Any

from monitor.documents.json_formats import json_bytes
from monitor.documents.links import safe_link
from monitor.documents.markup import (
    BLANK,
    DIGEST_LINE_TITLE,
    LABEL_LIMIT,
    UNTITLED,
    digest_heading,
    escaping_markup,
    fill_lines,
    match_lines,
    more_line,
    text,
    units,
)

# Discord embeds: https://discord.com/developers/docs/resources/message#embed-object-embed-limits
DISCORD_TITLE = 256
DISCORD_DESCRIPTION = 4096
DISCORD_FIELD_VALUE = 1024
DISCORD_EMBED_TOTAL = 6000

# Backslash escapes for the markdown (``:`` too: it stops autolinks and custom emoji).
DISCORD = escaping_markup({char: "\\" + char for char in "\\*_~`|>#[]()<:"}, bold="**")
# A link written as a markdown target: a parenthesis would end the target early, and an @
# could be read as a mention; nothing else safe_link leaves in is read inside a target.
_LINK_TARGET = str.maketrans({"(": "%28", ")": "%29", "@": "%40"})


def render_discord(payload: dict[str, Any]) -> tuple[str, bytes]:
    data = payload["data"]
    item = data["item"]

    def value(raw: str) -> str:
        return text(raw, min(LABEL_LIMIT, DISCORD_FIELD_VALUE), DISCORD, placeholder=BLANK)

    rule = value(data["rule"])
    fields: list[dict[str, Any]] = [
        {"name": "Rule", "value": rule, "inline": True},
        {"name": "Feed", "value": value(data["feed"]["name"]), "inline": True},
    ]
    if item["published"]:
        fields.append({"name": "Published", "value": value(item["published"]), "inline": True})
    for name, values in (("Authors", item["authors"]), ("Categories", item["categories"])):
        if values:
            fields.append({"name": name, "value": value(", ".join(values))})
    embed: dict[str, Any] = {
        "title": text(item["title"], DISCORD_TITLE, DISCORD, placeholder=UNTITLED),
        "fields": fields,
        "footer": {"text": "news-monitor"},
        "timestamp": payload["timestamp"],
    }
    link = safe_link(item["link"])
    if link:
        embed["url"] = link
    used = units(embed["title"]) + units(embed["footer"]["text"])
    used += sum(units(field["name"]) + units(field["value"]) for field in fields)
    room = min(DISCORD_DESCRIPTION, DISCORD_EMBED_TOTAL - used)
    lines = match_lines(data["matches"], room, DISCORD)
    if lines:
        embed["description"] = "\n".join(lines)
    message = {
        "content": f"New match for **{rule}**",
        "embeds": [embed],
        "allowed_mentions": {"parse": []},
    }
    return "application/json", json_bytes(message)


def render_digest_discord(payload: dict[str, Any]) -> tuple[str, bytes]:
    data = payload["data"]
    title = text(digest_heading(data), DISCORD_TITLE, DISCORD)
    lines = []
    for entry in data["alerts"]:
        name = text(entry["title"], DIGEST_LINE_TITLE, DISCORD, placeholder=UNTITLED)
        link = (safe_link(entry["link"]) or "").translate(_LINK_TARGET)
        entry_text = f"[{name}]({link})" if link else name
        rule = text(entry["rule"], LABEL_LIMIT, DISCORD, placeholder=BLANK)
        lines.append(f"• {entry_text} · {rule}")
    footer = "news-monitor"
    more = more_line(data["count"], 0)
    room = min(DISCORD_DESCRIPTION, DISCORD_EMBED_TOTAL - units(title) - units(footer))
    kept, count = fill_lines(lines, room - units(more) - 1)
    more = more_line(data["count"], count)
    embed: dict[str, Any] = {"title": title, "footer": {"text": footer}}
    embed["timestamp"] = payload["timestamp"]
    description = "\n".join([*kept, more] if more else kept)
    if description:
        embed["description"] = description
    message = {
        "content": f"Digest of {data['count']} alerts",
        "embeds": [embed],
        "allowed_mentions": {"parse": []},
    }
    return "application/json", json_bytes(message)
