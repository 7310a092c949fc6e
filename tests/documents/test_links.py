"""Item links in chat markup: every part of a URL is made safe, not only the path.

Issue 18, hole 5 (Slack mention injection): ``<``, ``>`` and ``|`` in a link's host reached
Slack markup unescaped. A link that cannot be rendered safely is left out, and the title is
shown as plain escaped text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.documents.links import safe_link
from monitor.documents.payload import alert_payload, digest_entry, digest_payload
from monitor.documents.render import render
from monitor.models import Alert
from tests.documents.test_formats import assert_discord_safe, assert_slack_safe

MakeAlert = Callable[..., Alert]

TITLE = "Rates | up"
# What a link in chat markup may hold: printable ASCII without a character any of the
# markups reads as the end of a link or the start of a mention.
LINK_CHARS = re.compile(r"[!#-;=?-\[\]_a-z~]+")  # printable ASCII but " < > \ ^ ` { | }
LINK_GRAMMAR = re.compile(r"https?://(?:[a-z0-9_.-]+|\[[0-9a-f:.]+\])(?::[0-9]+)?(?:[/?#].*)?")


def payloads(make_alert: MakeAlert, link: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """An alert for an item with ``link``, and a one-entry digest of it."""
    alert = alert_payload(make_alert(title=TITLE, link=link))
    digest = digest_payload(
        digest_id="dig_1",
        kind="hourly",
        window_start=0.0,
        window_end=3600.0,
        created_at=3600.0,
        count=1,
        entries=[digest_entry("msg_1", "r", 0.0, alert)],
    )
    return alert, digest


def messages(make_alert: MakeAlert, link: str, fmt: str) -> tuple[Any, Any]:
    """The alert message and the digest message in ``fmt``."""
    alert, digest = payloads(make_alert, link)
    return json.loads(render(fmt, alert)[1]), json.loads(render(fmt, digest)[1])


def slack_texts(message: dict[str, Any]) -> list[str]:
    texts = [message["text"]]
    for block in message["blocks"]:
        parts = [block.get("text"), *block.get("elements", [])]
        texts += [part["text"] for part in parts if part is not None]
    return texts


def discord_texts(message: dict[str, Any]) -> list[str]:
    (embed,) = message["embeds"]
    fields = [field["value"] for field in embed.get("fields", [])]
    return [message["content"], embed["title"], embed.get("description", ""), *fields]


def teams_urls(message: dict[str, Any]) -> list[str]:
    card = message["attachments"][0]["content"]
    urls = [action["url"] for action in card.get("actions", [])]
    for block in card["body"]:
        urls += [run["selectAction"]["url"] for run in block["inlines"] if "selectAction" in run]
    return urls


def assert_links_safe(make_alert: MakeAlert, link: str) -> None:
    """The properties every rendering of ``link`` keeps, in every chat format."""
    alert, digest = payloads(make_alert, link)
    # The payload carries the link cleaned of controls; that is what the formats render.
    assert alert["data"]["item"]["link"] == digest["data"]["alerts"][0]["link"]
    expected = safe_link(alert["data"]["item"]["link"])
    if expected is not None:
        assert LINK_GRAMMAR.fullmatch(expected), expected
        assert LINK_CHARS.fullmatch(expected), expected

    slack_alert, slack_digest = messages(make_alert, link, "slack")
    assert_slack_safe(slack_alert, expected)
    slack_target = expected.replace("&", "&amp;") if expected else None
    for text in slack_texts(slack_alert) + slack_texts(slack_digest):
        assert not re.search(r"<[!@#]", text), text
        # Feed text has its < and > escaped, so every <...> is our link: the safe URL, then
        # the one separator; a | in the URL part would spoof the link text.
        for inside in re.findall(r"<([^>]*)>", text):
            target, separator, _ = inside.partition("|")
            assert (target, separator) == (slack_target, "|"), text
        assert text.count("<") == text.count(">"), text

    discord_alert, discord_digest = messages(make_alert, link, "discord")
    assert_discord_safe(discord_alert)
    assert discord_alert["embeds"][0].get("url") == expected
    for text in discord_texts(discord_alert) + discord_texts(discord_digest):
        assert not re.search(r"@(?:everyone|here)", text), text
    description = discord_digest["embeds"][0]["description"]
    if expected:
        # The whole target sits between our own ( and ), and nothing in it ends it early.
        (target,) = re.findall(r"^• \[(?:\\.|[^\\\]])*\]\(([^()\s<>\\]*)\) · ", description)
        assert target == expected.replace("(", "%28").replace(")", "%29").replace("@", "%40")
    else:
        assert "](" not in description

    teams_alert, teams_digest = messages(make_alert, link, "teams")
    assert teams_urls(teams_alert) == teams_urls(teams_digest) == ([expected] if expected else [])


# --- the exact hole and its relatives ------------------------------------------------------


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("http://x>y<!channel>/a", None),  # the reported one
        ("http://<!channel>/", None),
        ("http://x|y.example/a", None),
        ("http://news.example:8080>/", None),
        ("http://[fe80::1%<!here>]/", None),  # an IPv6 zone id takes any characters
        ("http://[fe80::1%25eth0]/", None),
        ("http://[v1.!channel]/", None),  # IPvFuture
        ("http://a%3Cb.example/", None),
        *((f"http://a{char}b.example/", None) for char in "*&()~!$',;="),
        (
            "http://news.example/<!channel>?q=<@U1>|x#<#C1>",
            "http://news.example/%3C!channel%3E?q=%3C@U1%3E%7Cx#%3C#C1%3E",
        ),
        ("http://news.example/a|b", "http://news.example/a%7Cb"),
        ("http://news.example/@everyone", "http://news.example/@everyone"),
        ("http://x_y.example/", "http://x_y.example/"),
        ("HTTPS://News.Example./a", "https://news.example./a"),
        ("http://[::1]/x", "http://[::1]/x"),
        ("http://1.2.3.4:80/", "http://1.2.3.4:80/"),
    ],
)
def test_safe_link_checks_every_part(
    make_alert: MakeAlert, link: str, expected: str | None
) -> None:
    assert safe_link(link) == expected
    assert_links_safe(make_alert, link)


def test_slack_mention_in_host_is_shown_as_plain_title(make_alert: MakeAlert) -> None:
    alert, digest = messages(make_alert, "http://x>y<!channel>/a", "slack")
    assert alert["blocks"][0]["text"]["text"] == "*Rates | up*"
    assert digest["blocks"][1]["text"]["text"] == "• Rates | up · r"
    for message in (alert, digest):
        assert "<!channel>" not in json.dumps(message)


def test_discord_link_target_keeps_parentheses_and_mentions_out(make_alert: MakeAlert) -> None:
    _, digest = messages(make_alert, "http://news.example/(a)/@everyone", "discord")
    assert digest["embeds"][0]["description"] == (
        "• [Rates \\| up](http://news.example/%28a%29/%40everyone) · r"
    )


# --- any URL built from hostile parts ------------------------------------------------------

HOSTILE = "<>|&*_~`[]()!@#" + "\x00\x1f\x7f\x85" + "\u202e\u2066\u200f" + "\n\r\u2028 " + "%:/?=."
PART = st.text(alphabet=HOSTILE + "aZ9-é🚀", max_size=12)
SCHEMES = st.one_of(st.sampled_from(["http", "https", "HTTPS"]), PART)
USERINFO = st.one_of(st.just(""), PART.map(lambda text: text + "@"))
HOSTS = st.one_of(
    st.sampled_from(["news.example", "x_y.example", "[2001:db8::1]", "bücher.example"]),
    st.lists(st.one_of(PART, st.sampled_from(["x>y<!channel>", "[::1", "]", "%25", "."]))).map(
        "".join
    ),
)
PORTS = st.one_of(st.just(""), st.integers(0, 70000).map(":{}".format), PART.map(":".__add__))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    scheme=SCHEMES,
    userinfo=USERINFO,
    host=HOSTS,
    port=PORTS,
    path=PART.map("/".__add__),
    query=st.one_of(st.just(""), PART.map("?".__add__)),
    fragment=st.one_of(st.just(""), PART.map("#".__add__)),
)
def test_hostile_url_parts_never_reach_markup(
    make_alert: MakeAlert,
    scheme: str,
    userinfo: str,
    host: str,
    port: str,
    path: str,
    query: str,
    fragment: str,
) -> None:
    assert_links_safe(make_alert, f"{scheme}://{userinfo}{host}{port}{path}{query}{fragment}")
