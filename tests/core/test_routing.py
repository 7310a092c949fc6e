"""Digest decisions (windows, ids, routing), payload and chat rendering."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.core import routing as digest
from monitor.core.routing import DigestSchedule, Routing, Slot, Throttle
from monitor.documents.payload import DIGEST_LIMIT, digest_entry, digest_payload
from monitor.documents.render import FORMATS, render
from tests.documents.test_formats import (
    DISCORD_CONTENT,
    DISCORD_EMBED_TOTAL,
    DISCORD_LIMITS,
    SLACK_BLOCKS,
    SLACK_SECTION_TEXT,
    TEAMS_BYTES,
    ZWSP,
    discord_unescaped,
    units,
)

SCHEMA = json.loads(
    (Path(__file__).parents[2] / "monitor/documents/schema/digest.v1.json").read_text()
)
H = 3600.0
D = 86400.0
NOON = 1_714_564_800.0  # 2024-05-01T12:00:00Z


@pytest.mark.parametrize(
    ("moment", "per", "offset", "expected"),
    [
        (NOON, H, 0.0, (NOON, NOON + H)),  # a window includes its start
        (NOON - 0.001, H, 0.0, (NOON - H, NOON)),  # and excludes its end
        (NOON + 1799, H, 0.0, (NOON, NOON + H)),
        (NOON + 5, D, 0.0, (NOON - 12 * H, NOON + 12 * H)),  # UTC days
        (NOON + 5, D, 8 * H, (NOON - 4 * H, NOON + 20 * H)),  # daily at 08:00
        (NOON + 5, H, 30 * 60.0, (NOON - 1800, NOON + 1800)),  # hourly at :30
        (NOON + H, 90 * 60.0, 0.0, (NOON, NOON + 5400)),  # aligned to the epoch
        (0.0, 60.0, 0.0, (0.0, 60.0)),
    ],
)
def test_window(moment: float, per: float, offset: float, expected: tuple[float, float]) -> None:
    assert digest.window(moment, per, offset) == expected


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (("h", "daily", NOON), ("h", "daily", NOON), True),
        (("h", "daily", NOON), ("h", "daily", NOON + D), False),
        (("h", "daily", NOON), ("g", "daily", NOON), False),
        (("h", "daily", NOON), ("h", "hourly", NOON), False),
        (("h", "throttle:a", NOON), ("h", "throttle:b", NOON), False),
        (("h\x00x", "y", NOON), ("h", "x\x00y", NOON), False),
    ],
)
def test_digest_id_is_stable_per_webhook_kind_and_window(
    a: tuple[str, str, float], b: tuple[str, str, float], same: bool
) -> None:
    assert (digest.digest_id(*a) == digest.digest_id(*b)) is same
    assert re.fullmatch(r"dig_[0-9a-f]{32}", digest.digest_id(*a))


@pytest.mark.parametrize(("position", "held"), [(0, False), (4, False), (5, True), (50, True)])
def test_is_held_beyond_max(position: int, held: bool) -> None:
    assert digest.is_held(position, Throttle(max=5, per=H)) is held


def test_route() -> None:
    routing = Routing(throttles={"r": Throttle(2, H)}, digests={"daily": DigestSchedule("daily")})
    hooks = ("live", "daily")
    individual, held = digest.route(
        hooks, rule="r", created_at=NOON, throttled=False, routing=routing
    )
    day = NOON - 12 * H
    assert individual == ("live",)
    assert held == [Slot(digest.digest_id("daily", "daily", day), "daily", "daily", day, day + D)]
    individual, held = digest.route(
        hooks, rule="r", created_at=NOON, throttled=True, routing=routing
    )
    assert individual == ()
    assert [(s.webhook, s.kind, s.start) for s in held] == [
        ("live", "throttle:r", NOON),
        ("daily", "daily", day),
    ]
    # A rule without a throttle is never held for one.
    assert digest.route(hooks, rule="x", created_at=NOON, throttled=True, routing=routing)[0] == (
        "live",
    )


@pytest.mark.parametrize(
    ("every", "offset", "cron"),
    [
        ("daily", 0.0, {"hour": 0, "minute": 0, "second": 0}),
        ("daily", 30600.0, {"hour": 8, "minute": 30, "second": 0}),
        ("hourly", 0.0, {"minute": 0, "second": 0}),
        ("hourly", 900.0, {"minute": 15, "second": 0}),
    ],
)
def test_cron_fields(every: str, offset: float, cron: dict[str, int]) -> None:
    assert digest.cron_fields(DigestSchedule(every, offset)) == cron  # type: ignore[arg-type]


def stored_alert(title: str, link: str, snippet: str, rule: str = "r") -> dict[str, Any]:
    return {
        "data": {
            "rule": rule,
            "item": {"title": title, "link": link, "summary": "s"},
            "feed": {"name": "Wire"},
            "matches": [{"field": "title", "snippet": snippet, "terms": []}],
        }
    }


def make_digest(entries: list[dict[str, Any]], count: int, kind: str = "throttle:r") -> Any:
    return digest_payload(
        digest_id=digest.digest_id("h", kind, NOON),
        kind=kind,
        window_start=NOON,
        window_end=NOON + H,
        created_at=NOON + H,
        count=count,
        entries=entries,
    )


def test_digest_payload_is_bounded_and_valid() -> None:
    entries = [
        digest_entry(f"msg_{n}", "r", NOON + n, stored_alert(f"t{n}", "https://x.example", "**a**"))
        for n in range(150)
    ]
    payload = make_digest(entries, 150)
    jsonschema.validate(payload, SCHEMA, format_checker=jsonschema.FormatChecker())
    data = payload["data"]
    assert (data["count"], data["omitted"], len(data["alerts"])) == (150, 50, DIGEST_LIMIT)
    assert (data["kind"], data["rule"]) == ("throttle", "r")
    assert data["window"] == {"start": "2024-05-01T12:00:00Z", "end": "2024-05-01T13:00:00Z"}
    assert data["alerts"][0]["snippet"] == "**a**"
    daily = make_digest(entries[:1], 1, kind="daily")
    jsonschema.validate(daily, SCHEMA)
    assert (daily["data"]["kind"], daily["data"]["rule"]) == ("daily", None)
    # A stored document missing parts still makes a valid entry.
    jsonschema.validate(make_digest([digest_entry("m", "r", NOON, {})], 1), SCHEMA)


def assert_digest_within_limits(fmt: str, body: bytes) -> None:
    message = json.loads(body.decode("utf-8"))
    if fmt == "slack":
        assert len(message["blocks"]) <= SLACK_BLOCKS
        for block in message["blocks"]:
            for part in [block.get("text"), *block.get("elements", [])]:
                if part is not None:
                    assert 1 <= units(part["text"]) <= SLACK_SECTION_TEXT
        assert units(message["text"]) <= SLACK_SECTION_TEXT
    elif fmt == "discord":
        (embed,) = message["embeds"]
        assert units(message["content"]) <= DISCORD_CONTENT
        assert units(embed["title"]) <= DISCORD_LIMITS["title"]
        assert units(embed.get("description", "")) <= DISCORD_LIMITS["description"]
        total = units(embed["title"]) + units(embed.get("description", ""))
        assert total + units(embed["footer"]["text"]) <= DISCORD_EMBED_TOTAL
    elif fmt == "teams":
        assert len(body) <= TEAMS_BYTES


def test_digest_renders_in_every_format() -> None:
    entries = [
        digest_entry(
            "msg_1", "r", NOON, stored_alert("Rates <up>", "https://x.example/?a=1&b=2", "x")
        )
    ]
    payload = make_digest(entries, 3)
    assert json.loads(render("json", payload)[1]) == payload
    event = json.loads(render("cloudevents", payload)[1])
    assert (event["id"], event["type"]) == (
        payload["data"]["digest_id"],
        "org.newsmonitor.alert.digest",
    )
    slack = json.loads(render("slack", payload)[1])
    assert "<https://x.example/?a=1&amp;b=2|Rates &lt;up&gt;>" in slack["blocks"][1]["text"]["text"]
    assert slack["blocks"][2]["elements"][0]["text"] == "and 2 more"
    discord = json.loads(render("discord", payload)[1])
    assert "[Rates \\<up\\>](https\\:" not in discord["embeds"][0]["description"]
    assert "[Rates \\<up\\>](https://x.example/?a=1&b=2)" in discord["embeds"][0]["description"]
    teams = json.loads(render("teams", payload)[1])
    card = teams["attachments"][0]["content"]
    run = card["body"][1]["inlines"][0]
    assert (run["text"], run["selectAction"]["url"]) == ("Rates <up>", "https://x.example/?a=1&b=2")


HOSTILE = st.lists(
    st.one_of(
        st.sampled_from(
            ["<!channel>", "@everyone", "**", "[x](http://e.example)", "&", "\n", "🚀"]
        ),
        st.text(max_size=30),
    ),
    max_size=60,
).map("".join)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    entries=st.lists(
        st.tuples(HOSTILE, HOSTILE, st.sampled_from(["https://a.example/(x)", "javascript:x", ""])),
        min_size=1,
        max_size=110,
    ),
    # Any name config accepts (it allows markdown's "_" and "." but no markup or spaces).
    rule=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,60}", fullmatch=True),
)
def test_random_hostile_digests_are_safe_and_within_limits(
    entries: list[tuple[str, str, str]], rule: str
) -> None:
    listed = [
        digest_entry(f"m{n}", rule, NOON, stored_alert(title * 3, link, snippet, rule))
        for n, (title, snippet, link) in enumerate(entries)
    ]
    payload = make_digest(listed, len(listed) + 7, kind=f"throttle:{rule}")
    jsonschema.validate(payload, SCHEMA)
    for fmt in FORMATS:
        _, body = render(fmt, payload)
        assert_digest_within_limits(fmt, body)
    slack = json.loads(render("slack", payload)[1])
    for block in slack["blocks"]:
        for part in [block.get("text"), *block.get("elements", [])]:
            if part is None:
                continue
            # Our own links aside, feed text can hold no markup, entity or mention.
            text = re.sub(r"<https?://[^|<> ]+\|([^<>]*)>", r"\1", part["text"])
            assert not re.search(r"[<>_~`]", text), text
            assert not re.search(r"&(?!amp;|lt;|gt;)", text), text
            assert "@" not in text.replace("@" + ZWSP, ""), text
    discord = json.loads(render("discord", payload)[1])
    (embed,) = discord["embeds"]
    description = re.sub(
        r"^• \[(.*)\]\(https?://[^()\s]+\)", r"• \1", embed.get("description", ""), flags=re.M
    )
    for text in (embed["title"], description, discord["content"]):
        assert discord_unescaped(text, bold_allowed=False) == [], text
        assert "@" not in text.replace("@" + ZWSP, ""), text
