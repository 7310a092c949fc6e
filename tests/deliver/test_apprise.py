"""Apprise targets: through the outbox, breaker and retries, to a real local endpoint."""

from __future__ import annotations

import random
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from monitor.config import Config, load_config, routing_from_config
from monitor.deliver import apprise_target
from monitor.deliver.apprise_target import DIGEST_BODY_LIMIT, TITLE_LIMIT, apprise_message
from monitor.deliver.sender import Sender
from monitor.documents.payload import DIGEST_LIMIT, digest_document, digest_payload
from monitor.errors import ConfigError
from monitor.store import Store
from tests.deliver.consumer import (
    T0,
    Consumer,
    Reply,
    SettableWall,
    add_alerts,
    deliveries,
    make_config,
    real_wall,
    rounds,
)
from tests.net.hostile import canary, endless, redirector


def apprise_hook(consumer: Consumer, **settings: Any) -> dict[str, Any]:
    return {"name": "ap", "apprise": f"json://127.0.0.1:{consumer.port}/notify", **settings}


def sender(store: Store, wall: SettableWall, config: Config) -> Sender:
    return Sender(config, store, owner="test", clock=wall.clock(), rng=random.Random(7))


def test_an_apprise_target_gets_title_link_and_snippets() -> None:
    payload: dict[str, Any] = {
        "data": {
            "rule": "rates",
            "item": {"title": "Central bank\nraises rates " * 40, "link": "https://news.test/a"},
            "matches": [{"field": "title", "snippet": "Central bank **raises** rates"}],
        }
    }
    title, body = apprise_message(payload)
    assert len(title) <= TITLE_LIMIT
    assert "\n" not in title
    assert body.splitlines()[1:] == ["https://news.test/a", "title: Central bank raises rates"]
    payload["data"]["item"]["link"] = "javascript:alert(1)"
    assert "javascript" not in apprise_message(payload)[1]  # only plain http(s) links


def test_delivered_through_apprise_to_a_local_endpoint(store: Store) -> None:
    consumer = Consumer()
    try:
        (alert,) = add_alerts(store, 1, ("ap",))
        (outcomes,) = rounds(sender(store, SettableWall(), make_config(apprise_hook(consumer))))
    finally:
        consumer.close()
    assert [o.result for o in outcomes] == ["delivered"]
    assert deliveries(store)[alert].state == "delivered"
    [(_, document)] = consumer.received
    assert document["title"] == "Story a0"
    assert document["message"].splitlines() == [
        "r: Story a0",
        "https://news.test/a0",
        "title: Story a0",
    ]


def test_a_failing_apprise_endpoint_is_retried_on_the_schedule(store: Store) -> None:
    consumer = Consumer(script=lambda n: Reply(500 if n == 1 else 200))
    wall = SettableWall()
    try:
        (alert,) = add_alerts(store, 1, ("ap",))
        config = make_config(apprise_hook(consumer))
        (first,) = rounds(sender(store, wall, config))
        record = deliveries(store)[alert]
        assert record.next_attempt_at is not None
        wall.now = record.next_attempt_at
        (second,) = rounds(sender(store, wall, config))
    finally:
        consumer.close()
    assert [o.result for o in first] == ["retry"]
    assert (record.state, record.attempts) == ("failed", 1)
    assert record.last_error == "Apprise notify failed: failure"
    assert 5 * 0.85 <= record.next_attempt_at - T0 <= 5 * 1.15  # the default schedule
    assert [o.result for o in second] == ["delivered"]
    assert consumer.requests == 2


def test_a_loopback_apprise_host_is_refused_unless_private_is_allowed(store: Store) -> None:
    consumer = Consumer()
    try:
        (alert,) = add_alerts(store, 1, ("ap",))
        config = make_config(apprise_hook(consumer), network={"allow_private": False})
        (outcomes,) = rounds(sender(store, SettableWall(), config))
    finally:
        consumer.close()
    assert [o.result for o in outcomes] == ["retry"]
    assert consumer.requests == 0
    error = deliveries(store)[alert].last_error
    assert error
    assert error.startswith("refused: 127.0.0.1")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{name: a, url: 'https://h.test/x', apprise: 'json://h.test/x'}", "exactly one of"),
        ("{name: a}", "exactly one of"),
        ("{name: a, apprise: 'nosuchservice://x'}", "not an Apprise URL"),
        ("{name: a, apprise: 'json://h.test/x', secret: 'whsec_aGVsbG8='}", "not signed"),
    ],
)
def test_apprise_config_errors(tmp_path: Path, entry: str, message: str) -> None:
    path = tmp_path / "monitor.yaml"
    path.write_text(f"feeds: []\nwebhooks:\n  - {entry}\n")
    with pytest.raises(ConfigError, match=message):
        load_config(path)


ONLY_127_0_0_1 = {"allow_private": False, "allow_cidrs": ["127.0.0.1/32"]}


@pytest.mark.parametrize("scheme", ["json", "form", "xml"])
@pytest.mark.parametrize("status", [302, 307])
def test_an_apprise_redirect_is_a_failed_attempt_never_followed(
    store: Store, scheme: str, status: int
) -> None:
    """The allowed endpoint redirects to one the policy refuses (127.0.0.2): not reached."""
    trap = canary("127.0.0.2")
    hop = redirector(status, trap.url("/stolen"))
    try:
        (alert,) = add_alerts(store, 1, ("ap",))
        target = {"name": "ap", "apprise": f"{scheme}://127.0.0.1:{hop.port}/notify"}
        config = make_config(target, network=ONLY_127_0_0_1)
        (outcomes,) = rounds(sender(store, SettableWall(), config))
    finally:
        hop.close()
        trap.close()
    assert [o.result for o in outcomes] == ["retry"]
    assert hop.requests >= 1
    assert trap.requests == 0
    record = deliveries(store)[alert]
    assert (record.state, record.attempts) == ("failed", 1)
    assert record.last_error == (
        f"refused: a redirect (HTTP {status}) to {trap.url('/stolen')}; "
        "redirects are not followed, give the final URL"
    )


def test_an_endless_apprise_answer_is_read_up_to_a_limit(store: Store) -> None:
    server = endless()
    tracemalloc.start()
    started = time.monotonic()
    try:
        (alert,) = add_alerts(store, 1, ("ap",))
        target = {"name": "ap", "apprise": f"json://127.0.0.1:{server.port}/n", "timeout": 10}
        (outcomes,) = rounds(sender(store, SettableWall(), make_config(target)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        server.close()
    assert [o.result for o in outcomes] == ["delivered"]
    assert deliveries(store)[alert].state == "delivered"
    assert peak < 20 * 1024**2
    assert time.monotonic() - started < 8


def digest_entry(n: int, link: str) -> dict[str, str]:
    return {
        "alert_id": f"msg_{n}",
        "rule": "rates",
        "created_at": "2025-06-15T10:00:00Z",
        "title": f"Central bank move {n}\n" + "x" * 300,
        "link": link,
        "feed": "wire",
        "snippet": "Central bank **raises** rates",
    }


def test_a_digest_is_a_heading_and_a_bounded_list_of_stories_with_links() -> None:
    entries = [digest_entry(0, "https://news.test/0"), digest_entry(1, "javascript:alert(1)")]
    entries += [digest_entry(n, f"https://news.test/{n}") for n in range(2, 100)]
    payload = digest_payload(
        digest_id="msg_digest",
        kind="throttle:rates",
        window_start=T0,
        window_end=T0 + 3600,
        created_at=T0 + 3600,
        count=250,
        entries=entries,
    )
    title, body = apprise_message(payload)
    assert title.startswith("250 alerts (rule rates), ")
    lines = body.splitlines()
    assert lines[0].startswith("• Central bank move 0 xxx")
    assert lines[0].endswith("… · rates https://news.test/0")
    assert lines[1].endswith("… · rates")  # only plain http(s) links
    assert "javascript" not in body
    assert len(body) <= DIGEST_BODY_LIMIT
    assert lines[-1] == f"and {250 - (len(lines) - 1)} more"


def test_a_digest_is_delivered_through_apprise(store: Store) -> None:
    consumer = Consumer()
    try:
        config = make_config(apprise_hook(consumer, digest="daily"))
        store.set_routing(routing_from_config(config))  # as the composition root does
        wall = real_wall()
        yesterday = wall.now - 86400
        ids = add_alerts(store, 3, ("ap",), created=[yesterday] * 3)
        day = yesterday - yesterday % 86400
        [sealed] = store.seal_due_digests(day + 86400, digest_document, listed=DIGEST_LIMIT)
        (outcomes,) = rounds(sender(store, wall, config))
    finally:
        consumer.close()
    assert [(o.alert_id, o.result) for o in outcomes] == [(sealed, "delivered")]
    [(_, document)] = consumer.received
    assert document["title"].startswith("3 alerts (daily digest), ")
    assert document["message"].splitlines() == [
        f"• Story a{n} · r https://news.test/a{n}" for n in range(3)
    ]
    assert {d.alert_id: d.state for d in store.list_deliveries(limit=10)} == {
        **dict.fromkeys(ids, "digested"),
        sealed: "delivered",
    }


def test_an_apprise_message_that_raises_is_a_recorded_failure_then_retried(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(payload: dict[str, Any]) -> tuple[str, str]:
        raise KeyError("item")

    consumer = Consumer()
    wall = SettableWall()
    try:
        (alert,) = add_alerts(store, 1, ("ap",))
        config = make_config(apprise_hook(consumer))
        with monkeypatch.context() as patched:
            patched.setattr(apprise_target, "apprise_message", broken)
            (first,) = rounds(sender(store, wall, config))
        record = deliveries(store)[alert]
        wall.now = T0 + 10
        (second,) = rounds(sender(store, wall, config))
    finally:
        consumer.close()
    assert [o.result for o in first] == ["retry"]
    assert (record.state, record.attempts) == ("failed", 1)
    assert record.last_error == "unexpected KeyError: 'item'"
    assert [o.result for o in second] == ["delivered"]
    assert consumer.requests == 1
