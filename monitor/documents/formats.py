"""Render an alert payload for each kind of webhook consumer.

Everything from a feed is hostile text. One toolkit serves every chat format: text is
cleaned and put on one line, each character is escaped for the target markup, and it is
cut to the target's limit on a character boundary with an ellipsis, counting the escapes.
Links come only from the item's link, and only if it is a plain http(s) URL.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from monitor.documents.payload import is_digest
from monitor.errors import DeliveryError
from monitor.text import ELLIPSIS, display_line

FORMATS: tuple[str, ...] = ("json", "cloudevents", "slack", "discord", "teams")

SCHEMA_ID = "urn:news-monitor:schema:alert:v1"
CLOUDEVENTS_TYPE = "org.newsmonitor.alert.matched"
DIGEST_SCHEMA_ID = "urn:news-monitor:schema:digest:v1"
DIGEST_CLOUDEVENTS_TYPE = "org.newsmonitor.alert.digest"
DIGEST_LINE_TITLE = 150  # one digest line's title; its snippet is left out in chat formats
UNTITLED = "(untitled)"
BLANK = "-"  # shown for a blank label: Slack and Discord refuse empty text
MAX_LINK = 2000  # longer links are refused rather than eat a message's text budget
TITLE_LIMIT = 250  # display budgets, under every platform limit below
LABEL_LIMIT = 200  # rule, feed, authors, categories
SNIPPET_LIMIT = 600  # one match line

# Slack Block Kit: https://api.slack.com/reference/block-kit
SLACK_SECTION_TEXT = 3000
# Discord embeds: https://discord.com/developers/docs/resources/message#embed-object-embed-limits
DISCORD_TITLE = 256
DISCORD_DESCRIPTION = 4096
DISCORD_FIELD_VALUE = 1024
DISCORD_EMBED_TOTAL = 6000
# Teams rejects messages over about 28 KB; leave room for what Workflows wraps around it.
TEAMS_MAX_BYTES = 24_000

_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"  # RFC 3986 reserved characters and existing escapes


def render(fmt: str, payload: dict[str, Any]) -> tuple[str, bytes]:
    """``(content type, body)`` of ``payload`` in format ``fmt``; body is UTF-8."""
    renderer = (_DIGEST_RENDERERS if is_digest(payload) else _RENDERERS).get(fmt)
    if renderer is None:
        raise DeliveryError(f"unknown webhook format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return renderer(payload)


# --- the text toolkit -------------------------------------------------------------------

Span = tuple[str, bool]  # (text, is a matched hit)


@dataclass(frozen=True, slots=True)
class Markup:
    """How a target writes plain characters and bold hits."""

    escape_char: Callable[[str], str]
    bold: str  # put on both sides of a hit; "" when the target styles hits otherwise


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


def _markup(escapes: dict[str, str], *, bold: str) -> Markup:
    # A zero-width space after every @ breaks @everyone, @here, @channel and <@id> in any
    # client that would still parse them (allowed_mentions, link_names and the like).
    table = str.maketrans({"@": "@\u200b", **escapes})
    return Markup(escape_char=lambda char: char.translate(table), bold=bold)


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


def safe_link(url: str) -> str | None:
    """``url`` as a plain, escaped http(s) URL, or ``None`` if it is anything else.

    Refuses userinfo (``https://bank.com@evil.example``), bad hosts, controls and spaces.
    """
    url = url.strip()
    if not url or len(url) > MAX_LINK or display_line(url) != url or " " in url:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
        host = (parts.hostname or "").encode("idna").decode("ascii")
    except (ValueError, UnicodeError):
        return None
    if parts.scheme.lower() not in ("http", "https") or not host or "@" in parts.netloc:
        return None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc = f"{netloc}:{port}"
    safe = [quote(part, safe=_URL_SAFE) for part in (parts.path, parts.query, parts.fragment)]
    link = urlunsplit((parts.scheme.lower(), netloc, *safe))
    return link if len(link) <= MAX_LINK else None


def _json_bytes(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


# --- json and cloudevents ---------------------------------------------------------------


def _render_json(payload: dict[str, Any]) -> tuple[str, bytes]:
    return "application/json", _json_bytes(payload)


def _render_cloudevents(payload: dict[str, Any]) -> tuple[str, bytes]:
    data = payload["data"]
    event = {
        "specversion": "1.0",
        "id": data["alert_id"],
        # A URI reference; the feed name is percent-encoded so any name makes a valid one.
        "source": "news-monitor/feeds/" + quote(data["feed"]["name"], safe=""),
        "type": CLOUDEVENTS_TYPE,
        "subject": data["rule"],
        "time": payload["timestamp"],
        "datacontenttype": "application/json",
        "dataschema": SCHEMA_ID,
        "data": data,
    }
    return "application/cloudevents+json", _json_bytes(event)


# --- slack --------------------------------------------------------------------------------

# Slack has no escape for its formatting characters, so they become look-alikes that
# never format; & < > become the entities Slack documents, which kills <!channel>,
# <@U123> and <http://evil|bank.com> from feed text.
SLACK = _markup(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", "*": "∗", "_": "ˍ", "~": "∼", "`": "ˋ"}, bold="*"
)


def _slack_text(markdown: str) -> dict[str, Any]:
    # verbatim: no auto-linking of URLs or names in feed text; our own <url|title> stays.
    return {"type": "mrkdwn", "text": markdown, "verbatim": True}


def _render_slack(payload: dict[str, Any]) -> tuple[str, bytes]:
    data = payload["data"]
    item = data["item"]
    title = text(item["title"], TITLE_LIMIT, SLACK, placeholder=UNTITLED)
    link = (safe_link(item["link"]) or "").replace("&", "&amp;")
    # The entity escapes may lengthen a link; past MAX_LINK it would crowd out the title.
    heading = f"*<{link}|{title}>*" if 0 < len(link) <= MAX_LINK else f"*{title}*"
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
    return "application/json", _json_bytes(message)


# --- discord ------------------------------------------------------------------------------

# Backslash escapes for the markdown (``:`` too: it stops autolinks and custom emoji).
DISCORD = _markup({char: "\\" + char for char in "\\*_~`|>#[]()<:"}, bold="**")


def _render_discord(payload: dict[str, Any]) -> tuple[str, bytes]:
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
    return "application/json", _json_bytes(message)


# --- teams --------------------------------------------------------------------------------

# Feed text goes only into TextRuns of RichTextBlocks, which Adaptive Cards never read as
# markdown; TextBlock markdown has no escape that renders the same on every Teams client.
PLAIN = Markup(escape_char=str, bold="")


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


def _render_teams(payload: dict[str, Any]) -> tuple[str, bytes]:
    data = payload["data"]
    item = data["item"]

    def plain(value: str, limit: int) -> list[Span]:
        return fit([(display_line(value), False)], limit, PLAIN)

    title = plain(display_line(item["title"]) or UNTITLED, TITLE_LIMIT)
    about = [("Rule: ", True), *plain(data["rule"] or BLANK, LABEL_LIMIT)]
    about += [(" · Feed: ", True), *plain(data["feed"]["name"] or BLANK, LABEL_LIMIT)]
    if item["published"]:
        about += [(" · Published: ", True), *plain(item["published"], LABEL_LIMIT)]
    body = [
        _rich(_runs(title, size="Large", weight="Bolder")),
        _rich(_runs(about, isSubtle=True), spacing="Small"),
    ]
    link = safe_link(item["link"])
    # Matches are added while the message stays under the size limit; each one is bounded,
    # so the title and labels alone are always far below it.
    for match in data["matches"]:
        label = [*plain(str(match["field"]), LABEL_LIMIT), (": ", False)]
        spans = label + fit(snippet_spans(match["snippet"]), SNIPPET_LIMIT, PLAIN)
        candidate = [*body, _rich(_runs(spans), spacing="Small")]
        if len(_json_bytes(_teams_message(candidate, link))) > TEAMS_MAX_BYTES:
            break
        body = candidate
    return "application/json", _json_bytes(_teams_message(body, link))


_RENDERERS: dict[str, Callable[[dict[str, Any]], tuple[str, bytes]]] = {
    "json": _render_json,
    "cloudevents": _render_cloudevents,
    "slack": _render_slack,
    "discord": _render_discord,
    "teams": _render_teams,
}


# --- digests: a heading and a compact list, one line per alert ------------------------------


def _digest_heading(data: dict[str, Any]) -> str:
    what = f"rule {display_line(data['rule'])}" if data.get("rule") else f"{data['kind']} digest"
    return f"{data['count']} alerts ({what}), {data['window']['start']} to {data['window']['end']}"


def _render_digest_cloudevents(payload: dict[str, Any]) -> tuple[str, bytes]:
    data = payload["data"]
    event = {
        "specversion": "1.0",
        "id": data["digest_id"],
        "source": "news-monitor/digests/" + quote(data["kind"], safe=""),
        "type": DIGEST_CLOUDEVENTS_TYPE,
        "subject": data["rule"] or data["kind"],
        "time": payload["timestamp"],
        "datacontenttype": "application/json",
        "dataschema": DIGEST_SCHEMA_ID,
        "data": data,
    }
    return "application/cloudevents+json", _json_bytes(event)


def _fill(lines: Sequence[str], limit: int) -> tuple[list[str], int]:
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


def _more(total: int, shown: int) -> str:
    return f"and {total - shown} more" if total > shown else ""


def _render_digest_slack(payload: dict[str, Any]) -> tuple[str, bytes]:
    data = payload["data"]
    heading = text(_digest_heading(data), LABEL_LIMIT, SLACK)
    lines = []
    for entry in data["alerts"]:
        title = text(entry["title"], DIGEST_LINE_TITLE, SLACK, placeholder=UNTITLED)
        link = (safe_link(entry["link"]) or "").replace("&", "&amp;")
        entry_text = f"<{link}|{title}>" if 0 < len(link) <= MAX_LINK else title
        lines.append(
            f"• {entry_text} · {text(entry['rule'], LABEL_LIMIT, SLACK, placeholder=BLANK)}"
        )
    kept, count = _fill(lines, SLACK_SECTION_TEXT)
    blocks: list[dict[str, Any]] = [{"type": "section", "text": _slack_text(f"*{heading}*")}]
    if kept:
        blocks.append({"type": "section", "text": _slack_text("\n".join(kept))})
    more = _more(data["count"], count)
    if more:
        blocks.append({"type": "context", "elements": [_slack_text(more)]})
    message = {"text": heading, "blocks": blocks, "unfurl_links": False, "unfurl_media": False}
    return "application/json", _json_bytes(message)


def _render_digest_discord(payload: dict[str, Any]) -> tuple[str, bytes]:
    data = payload["data"]
    title = text(_digest_heading(data), DISCORD_TITLE, DISCORD)
    lines = []
    for entry in data["alerts"]:
        name = text(entry["title"], DIGEST_LINE_TITLE, DISCORD, placeholder=UNTITLED)
        link = (safe_link(entry["link"]) or "").replace("(", "%28").replace(")", "%29")
        entry_text = f"[{name}]({link})" if link else name
        rule = text(entry["rule"], LABEL_LIMIT, DISCORD, placeholder=BLANK)
        lines.append(f"• {entry_text} · {rule}")
    footer = "news-monitor"
    more = _more(data["count"], 0)
    room = min(DISCORD_DESCRIPTION, DISCORD_EMBED_TOTAL - units(title) - units(footer))
    kept, count = _fill(lines, room - units(more) - 1)
    more = _more(data["count"], count)
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
    return "application/json", _json_bytes(message)


def _render_digest_teams(payload: dict[str, Any]) -> tuple[str, bytes]:
    data = payload["data"]

    def plain(value: str, limit: int) -> list[Span]:
        return fit([(display_line(value), False)], limit, PLAIN)

    body = [_rich(_runs(plain(_digest_heading(data), LABEL_LIMIT), size="Large", weight="Bolder"))]
    shown = 0
    for entry in data["alerts"]:
        title = plain(display_line(entry["title"]) or UNTITLED, DIGEST_LINE_TITLE)
        runs = _runs(title, weight="Bolder")
        link = safe_link(entry["link"])
        if link:
            for run in runs:
                run["selectAction"] = {"type": "Action.OpenUrl", "url": link}
        runs += _runs([(" · ", False), *plain(entry["rule"] or BLANK, LABEL_LIMIT)])
        candidate = [*body, _rich(runs, spacing="Small")]
        more = _more(data["count"], shown + 1)
        tail = [_rich(_runs([(more, False)], isSubtle=True))] if more else []
        if len(_json_bytes(_teams_message([*candidate, *tail], None))) > TEAMS_MAX_BYTES:
            break
        body = candidate
        shown += 1
    more = _more(data["count"], shown)
    if more:
        body.append(_rich(_runs([(more, False)], isSubtle=True)))
    return "application/json", _json_bytes(_teams_message(body, None))


_DIGEST_RENDERERS: dict[str, Callable[[dict[str, Any]], tuple[str, bytes]]] = {
    "json": _render_json,
    "cloudevents": _render_digest_cloudevents,
    "slack": _render_digest_slack,
    "discord": _render_digest_discord,
    "teams": _render_digest_teams,
}
