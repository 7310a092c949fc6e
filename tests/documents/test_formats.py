from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.documents.links import safe_link
from monitor.documents.payload import alert_payload
from monitor.documents.render import FORMATS, render
from monitor.errors import DeliveryError
from monitor.models import Alert, FieldHit

MakeAlert = Callable[..., Alert]

# The platforms' documented limits, written out here on purpose: the tests check the
# output against the platforms, not against the module's own constants.
SLACK_SECTION_TEXT = 3000
SLACK_BLOCKS = 50
SLACK_CONTEXT_ELEMENTS = 10
DISCORD_LIMITS = {"title": 256, "description": 4096, "footer": 2048, "author": 256}
DISCORD_FIELDS = 25
DISCORD_FIELD_NAME = 256
DISCORD_FIELD_VALUE = 1024
DISCORD_EMBED_TOTAL = 6000
DISCORD_CONTENT = 2000
TEAMS_BYTES = 28 * 1024

ZWSP = "\u200b"
DISCORD_SPECIAL = set("\\*_~`|>#[]()<:")


def units(text: str) -> int:
    """UTF-16 code units: what a JavaScript length says, and never less than code points."""
    return len(text.encode("utf-16-le")) // 2


def rendered(fmt: str, alert: Alert) -> tuple[str, Any]:
    content_type, body = render(fmt, alert_payload(alert))
    return content_type, json.loads(body.decode("utf-8"))


# --- structure ----------------------------------------------------------------------------


def test_formats_listed() -> None:
    assert FORMATS == ("json", "cloudevents", "slack", "discord", "teams")


def test_unknown_format_is_a_clear_error(make_alert: MakeAlert) -> None:
    with pytest.raises(DeliveryError, match=r"unknown webhook format 'xml'.*json, cloudevents"):
        render("xml", alert_payload(make_alert()))


def test_json_is_the_payload_compact_utf8(make_alert: MakeAlert) -> None:
    payload = alert_payload(make_alert(title="Zentralbank erhöht 🚀"))
    content_type, body = render("json", payload)
    assert content_type == "application/json"
    assert json.loads(body.decode("utf-8")) == payload
    assert b": " not in body
    assert b", " not in body
    assert "erhöht 🚀".encode() in body  # raw UTF-8, not \u escapes


def test_cloudevents_structured_mode(make_alert: MakeAlert) -> None:
    alert = make_alert(feed="Example News")
    content_type, event = rendered("cloudevents", alert)
    assert content_type == "application/cloudevents+json"
    assert event["specversion"] == "1.0"
    assert event["id"] == alert.id
    assert event["type"] == "org.newsmonitor.alert.matched"
    assert event["source"] == "news-monitor/feeds/Example%20News"
    assert event["subject"] == alert.rule
    assert event["time"] == "2024-05-01T12:00:05Z"
    assert event["datacontenttype"] == "application/json"
    assert event["data"] == alert_payload(alert)["data"]


def test_slack_structure(make_alert: MakeAlert) -> None:
    content_type, message = rendered("slack", make_alert())
    assert content_type == "application/json"
    heading, snippets, context = message["blocks"]
    assert heading == {
        "type": "section",
        "text": {
            "type": "mrkdwn",
            "text": "*<https://news.example/story?id=1&amp;ref=rss|Central bank raises rates>*",
            "verbatim": True,
        },
    }
    assert snippets["text"]["text"] == "title: Central bank *raises* *rates*"
    assert [element["text"] for element in context["elements"]] == [
        "Rule: *rates*",
        "Feed: Example News",
        "Published: 2024-05-01T11:30:00Z",
    ]
    assert message["text"] == "rates: Central bank raises rates"
    assert message["unfurl_links"] is False


def test_slack_without_hits_link_or_date(make_alert: MakeAlert) -> None:
    _, message = rendered("slack", make_alert(hits=(), link="javascript:alert(1)", published=None))
    heading, context = message["blocks"]
    assert heading["text"]["text"] == "*Central bank raises rates*"
    assert len(context["elements"]) == 2


def test_discord_structure(make_alert: MakeAlert) -> None:
    _, message = rendered("discord", make_alert())
    assert message["allowed_mentions"] == {"parse": []}
    assert message["content"] == "New match for **rates**"
    (embed,) = message["embeds"]
    assert embed["title"] == "Central bank raises rates"
    assert embed["url"] == "https://news.example/story?id=1&ref=rss"
    assert embed["description"] == "title: Central bank **raises** **rates**"
    assert embed["timestamp"] == "2024-05-01T12:00:05Z"
    assert [(field["name"], field["value"]) for field in embed["fields"]] == [
        ("Rule", "rates"),
        ("Feed", "Example News"),
        ("Published", "2024-05-01T11\\:30\\:00Z"),
        ("Authors", "A. Writer"),
        ("Categories", "economy, banks"),
    ]


def test_discord_blank_values_get_a_placeholder(make_alert: MakeAlert) -> None:
    _, message = rendered("discord", make_alert(title=" \n ", feed="\t", hits=(), link=""))
    (embed,) = message["embeds"]
    assert embed["title"] == "\\(untitled\\)"
    assert embed["fields"][1]["value"] == "-"
    assert "url" not in embed
    assert "description" not in embed


def test_teams_structure(make_alert: MakeAlert) -> None:
    _, message = rendered("teams", make_alert())
    assert message["type"] == "message"
    (attachment,) = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert card["type"] == "AdaptiveCard"
    assert card["version"] in ("1.4", "1.5")
    assert card["actions"] == [
        {
            "type": "Action.OpenUrl",
            "title": "Open article",
            "url": "https://news.example/story?id=1&ref=rss",
        }
    ]
    title, about, hit = card["body"]
    assert title["inlines"][0]["text"] == "Central bank raises rates"
    assert "".join(run["text"] for run in about["inlines"]) == (
        "Rule: rates · Feed: Example News · Published: 2024-05-01T11:30:00Z"
    )
    assert [(run["text"], run.get("weight")) for run in hit["inlines"]] == [
        ("title: Central bank ", None),
        ("raises", "Bolder"),
        (" ", None),
        ("rates", "Bolder"),
    ]


def test_teams_without_link_has_no_action(make_alert: MakeAlert) -> None:
    _, message = rendered("teams", make_alert(link="ftp://news.example/x"))
    assert "actions" not in message["attachments"][0]["content"]


# --- links ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("https://news.example/a?b=1&c=2#d", "https://news.example/a?b=1&c=2#d"),
        ("  HTTP://News.Example:8080/a  ", "http://news.example:8080/a"),
        ('https://news.example/a|b<c>d"e', "https://news.example/a%7Cb%3Cc%3Ed%22e"),
        ("https://news.example/ü?q=ö", "https://news.example/%C3%BC?q=%C3%B6"),
        ("https://bücher.example/", "https://xn--bcher-kva.example/"),
        ("https://[2001:db8::1]:443/x", "https://[2001:db8::1]:443/x"),
        ("https://news.example/already%20escaped", "https://news.example/already%20escaped"),
        ("javascript:alert(1)", None),
        ("data:text/html,<b>x</b>", None),
        ("ftp://news.example/x", None),
        ("//news.example/x", None),
        ("/relative/path", None),
        ("https://bank.example@evil.example/", None),
        ("https://user:pw@news.example/", None),
        ("https://news.example/a b", None),
        ("https://news.example/a\nb", None),
        ("https://news.example:99999/", None),
        ("https://a..b/", None),
        ("http://", None),
        ("", None),
        ("https://news.example/" + "a" * 3000, None),
    ],
)
def test_safe_link(link: str, expected: str | None) -> None:
    assert safe_link(link) == expected


# --- hostile text ---------------------------------------------------------------------

HOSTILE = (
    "<!channel> <!here> <!everyone> <@U123> <#C1> <http://evil.example|bank.com> "
    "@everyone @here <@123> <@&456> [bank.com](http://evil.example) "
    "*bold* **strong** _it_ __u__ ~s~ ~~st~~ `code` ```block``` ||spoiler|| "
    "> quote\n# heading\n-# small\n- list & <b>html</b> \\*not\\* :emoji: https://auto.example"
)


def slack_texts(message: dict[str, Any]) -> Iterator[str]:
    for block in message["blocks"]:
        if "text" in block:
            yield block["text"]["text"]
        for element in block.get("elements", []):
            yield element["text"]


def assert_slack_safe(message: dict[str, Any], link: str | None) -> None:
    """Only our own link and bold markers are markup; everything else is inert."""
    heading, *_ = slack_texts(message)
    if link:
        opener = f"*<{link.replace('&', '&amp;')}|"
        assert heading.startswith(opener)
        assert heading.endswith(">*")
        heading = heading[len(opener) : -2]
    else:
        heading = heading[1:-1]
    texts = [heading, *list(slack_texts(message))[1:], message["text"]]
    for text in texts:
        assert not re.search(r"[<>_~`]", text), text
        assert not re.search(r"&(?!amp;|lt;|gt;)", text), text
        assert "@" not in text.replace("@" + ZWSP, ""), text
        assert "**" not in text, text  # no empty or doubled bold
        for line in text.split("\n"):
            assert line.count("*") % 2 == 0, line
    assert "*" not in heading


def discord_unescaped(text: str, *, bold_allowed: bool) -> list[str]:
    """Markdown characters in ``text`` that no backslash escapes (our ** pairs aside)."""
    found = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if bold_allowed and text.startswith("**", index):
            index += 2
            continue
        if char in DISCORD_SPECIAL:
            found.append(char)
        index += 1
    return found


def assert_discord_safe(message: dict[str, Any]) -> None:
    (embed,) = message["embeds"]
    texts = [
        (embed["title"], False),
        (embed.get("description", ""), True),
        (message["content"], True),
        *((field["value"], False) for field in embed["fields"]),
    ]
    for text, bold_allowed in texts:
        # Our own "field: " label before each match line; any colon in it is escaped.
        text = re.sub(r"^(?:\\.|[^\\:])*: ", "", text, flags=re.MULTILINE)
        assert discord_unescaped(text, bold_allowed=bold_allowed) == [], text
        assert "@" not in text.replace("@" + ZWSP, ""), text
        for line in text.split("\n"):
            assert re.sub(r"\\.", "", line).count("**") % 2 == 0, line


def teams_texts(message: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    card = message["attachments"][0]["content"]
    for block in card["body"]:
        assert block["type"] == "RichTextBlock"  # never a markdown TextBlock
        for run in block["inlines"]:
            assert run["type"] == "TextRun"
            yield run["text"], run


def test_hostile_text_slack(make_alert: MakeAlert) -> None:
    alert = make_alert(
        title=HOSTILE, feed=HOSTILE, rule=HOSTILE, hits=(FieldHit("summary", HOSTILE, ("x",)),)
    )
    _, message = rendered("slack", alert)
    assert_slack_safe(message, safe_link(alert.item.link))
    heading = message["blocks"][0]["text"]["text"]
    assert "&lt;!channel&gt; &lt;!here&gt;" in heading
    assert "&lt;http://evil.example|bank.com&gt;" in heading
    assert "∗bold∗ ∗∗strong∗∗ ˍitˍ" in heading
    snippet = message["blocks"][1]["text"]["text"]
    assert "&amp; &lt;b&gt;html&lt;/b&gt; \\∗not\\∗" in snippet


def test_hostile_text_discord(make_alert: MakeAlert) -> None:
    alert = make_alert(
        title=HOSTILE, feed=HOSTILE, rule=HOSTILE, hits=(FieldHit("summary", HOSTILE, ("x",)),)
    )
    _, message = rendered("discord", alert)
    assert message["allowed_mentions"] == {"parse": []}
    assert_discord_safe(message)
    title = message["embeds"][0]["title"]
    assert "\\<!channel\\>" in title
    assert f"@{ZWSP}everyone @{ZWSP}here \\<@{ZWSP}123\\>" in title
    assert "\\[bank.com\\]\\(http\\://evil.example\\)" in title


def test_hostile_text_teams_stays_literal(make_alert: MakeAlert) -> None:
    alert = make_alert(title=HOSTILE, hits=(FieldHit("summary", HOSTILE, ("x",)),))
    _, message = rendered("teams", alert)
    title = next(teams_texts(message))[0]
    # TextRuns are never parsed as markdown, so the text is shown as is, on one line.
    assert title.endswith("…")
    assert " ".join(HOSTILE.split()).startswith(title.removesuffix("…"))
    assert title.startswith("<!channel> <!here>")


# --- limits, with the worst input we can think of and with random input --------------------

WORST_CASES: dict[str, dict[str, Any]] = {
    "huge escapes": {
        "title": "&<>*_`[]@" * 2000,
        "feed": "&" * 5000,
        "rule": "@" * 5000,
        "authors": tuple("<@everyone>" * 100 for _ in range(50)),
        "categories": tuple("#" * 2000 for _ in range(50)),
        "hits": tuple(FieldHit("content", "**&**" * 3000, ("x",)) for _ in range(40)),
    },
    "astral characters": {
        "title": "🚀" * 5000,
        "feed": "𝕏" * 3000,
        "hits": tuple(FieldHit("title", "**🚀**" + "😀" * 5000, ("x",)) for _ in range(40)),
    },
    "many tiny hits": {
        "hits": tuple(FieldHit("summary", "**a** " * 3000, ("a",)) for _ in range(40)),
    },
}


def assert_within_limits(fmt: str, body: bytes) -> None:
    message = json.loads(body.decode("utf-8"))
    if fmt == "slack":
        assert len(message["blocks"]) <= SLACK_BLOCKS
        for block in message["blocks"]:
            if block["type"] == "section":
                assert 1 <= units(block["text"]["text"]) <= SLACK_SECTION_TEXT
            if block["type"] == "context":
                assert len(block["elements"]) <= SLACK_CONTEXT_ELEMENTS
                assert all(1 <= units(e["text"]) <= SLACK_SECTION_TEXT for e in block["elements"])
        assert units(message["text"]) <= SLACK_SECTION_TEXT
    elif fmt == "discord":
        (embed,) = message["embeds"]
        assert units(message["content"]) <= DISCORD_CONTENT
        assert units(embed["title"]) <= DISCORD_LIMITS["title"]
        assert units(embed.get("description", "")) <= DISCORD_LIMITS["description"]
        assert units(embed["footer"]["text"]) <= DISCORD_LIMITS["footer"]
        assert len(embed["fields"]) <= DISCORD_FIELDS
        for field in embed["fields"]:
            assert units(field["name"]) <= DISCORD_FIELD_NAME
            assert 1 <= units(field["value"]) <= DISCORD_FIELD_VALUE
        total = units(embed["title"]) + units(embed.get("description", ""))
        total += units(embed["footer"]["text"]) + units(embed.get("author", {}).get("name", ""))
        total += sum(units(field["name"]) + units(field["value"]) for field in embed["fields"])
        assert total <= DISCORD_EMBED_TOTAL
    elif fmt == "teams":
        assert len(body) <= TEAMS_BYTES


@pytest.mark.parametrize("fmt", ["slack", "discord", "teams"])
@pytest.mark.parametrize("case", WORST_CASES)
def test_worst_case_input_stays_within_limits(make_alert: MakeAlert, fmt: str, case: str) -> None:
    _, body = render(fmt, alert_payload(make_alert(**WORST_CASES[case])))
    assert_within_limits(fmt, body)


def test_truncation_keeps_escapes_whole_and_ends_with_ellipsis(make_alert: MakeAlert) -> None:
    _, slack = rendered("slack", make_alert(title="&" * 1000))
    inner = slack["blocks"][0]["text"]["text"].split("|", 1)[1][:-2]
    assert inner.endswith("&amp;…")
    _, discord = rendered("discord", make_alert(title="*" * 1000))
    title = discord["embeds"][0]["title"]
    assert title.endswith("\\*…")
    assert units(title) <= DISCORD_LIMITS["title"]


def test_truncated_hit_is_closed_before_the_ellipsis(make_alert: MakeAlert) -> None:
    _, message = rendered(
        "slack", make_alert(hits=(FieldHit("title", "**" + "a" * 5000 + "**", ("a",)),))
    )
    line = message["blocks"][1]["text"]["text"]
    assert line.startswith("title: *aaa")
    assert line.endswith("a*…")


MARKUP = st.sampled_from(
    [
        "<!channel>", "<!here>", "<@U123>", "<http://evil.example|bank.com>", "@everyone",
        "@here", "**", "*", "_", "~", "`", "|", ">", "#", "[x](http://e.example)", "&amp;",
        "&", "\\", ":", "\n", "\u202e", "\ud800", "\x00", "🚀", "é",
    ]
)  # fmt: skip
HOSTILE_TEXT = st.lists(st.one_of(MARKUP, st.text(max_size=30)), max_size=60).map("".join)
LINKS = st.one_of(
    st.sampled_from(
        ["https://news.example/x?a=1&b=2", "javascript:alert(1)", "https://a.example@b.example/"]
    ),
    st.text(max_size=40),
)
HITS = st.lists(
    st.builds(
        FieldHit,
        field=st.sampled_from(["title", "summary", "content", "author", "category"]),
        snippet=HOSTILE_TEXT,
        terms=st.tuples(st.text(max_size=10)),
    ),
    max_size=8,
).map(tuple)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    title=HOSTILE_TEXT,
    feed=HOSTILE_TEXT,
    rule=HOSTILE_TEXT,
    link=LINKS,
    authors=st.lists(HOSTILE_TEXT, max_size=3).map(tuple),
    hits=HITS,
)
def test_random_hostile_input_is_safe_and_within_limits(
    make_alert: MakeAlert,
    title: str,
    feed: str,
    rule: str,
    link: str,
    authors: tuple[str, ...],
    hits: tuple[FieldHit, ...],
) -> None:
    alert = make_alert(title=title, feed=feed, rule=rule, link=link, authors=authors, hits=hits)
    payload = alert_payload(alert)
    for fmt in FORMATS:
        _, body = render(fmt, payload)
        body.decode("utf-8")  # valid UTF-8 or this raises
        assert_within_limits(fmt, body)
    link_ok = safe_link(link)
    assert_slack_safe(json.loads(render("slack", payload)[1]), link_ok)
    assert_discord_safe(json.loads(render("discord", payload)[1]))
    teams = json.loads(render("teams", payload)[1])
    card = teams["attachments"][0]["content"]
    assert [a["url"] for a in card.get("actions", [])] == ([link_ok] if link_ok else [])
    for text, _ in teams_texts(teams):
        assert "\n" not in text
        assert "\u202e" not in text
