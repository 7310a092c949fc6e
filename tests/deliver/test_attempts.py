"""What one attempt does, end to end through the sender: statuses, retries, Retry-After, 410,
redirects, dead letters, the breaker, and what reaches the wire (headers, signatures,
formats). On ``httpx.MockTransport`` consumers and a real SQLite outbox; the verdicts
themselves are tabled in tests/core/test_delivery.py.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import jsonschema
import pytest

from monitor.documents.render import FORMATS, render
from monitor.models import DeliveryOutcome
from monitor.net.useragent import USER_AGENT
from monitor.store import Store
from tests.deliver.consumer import (
    OLD_SECRET,
    SECRET,
    T0,
    Reply,
    SettableWall,
    add_alerts,
    deliveries,
    hook,
    make_sender,
    rounds,
)
from tests.deliver.mock_consumers import MockNetwork, signature_matches

SCHEMA = json.loads(
    (Path(__file__).parents[2] / "monitor/documents/schema/alert.v1.json").read_text()
)


def test_500_then_200_and_the_payload_matches_the_schema(store: Store) -> None:
    net = MockNetwork()
    consumer = net.add("h", secrets=(SECRET,), script=lambda n: Reply(500 if n == 1 else 200))
    wall = SettableWall()
    (alert,) = add_alerts(store, 1, ("h",))
    config = hook("h", consumer.url())
    (first,) = rounds(make_sender(store, wall, config, transport=net.transport))
    assert [(o.result, o.status_code) for o in first] == [("retry", 500)]
    assert deliveries(store)[alert].last_error == "HTTP 500"
    wall.now = T0 + 10
    (second,) = rounds(make_sender(store, wall, config, transport=net.transport))
    assert [(o.result, o.status_code) for o in second] == [("delivered", 200)]
    assert consumer.requests == 2
    assert consumer.ids() == [alert]
    jsonschema.validate(consumer.received[0][1], SCHEMA)


def test_retry_after_on_429_is_honoured(store: Store) -> None:
    net = MockNetwork()
    consumer = net.add("h", script=lambda n: Reply(429, {"retry-after": "120"}))
    (alert,) = add_alerts(store, 1, ("h",))
    rounds(make_sender(store, SettableWall(), hook("h", consumer.url()), transport=net.transport))
    record = deliveries(store)[alert]
    assert (record.state, record.last_status) == ("failed", 429)
    assert record.next_attempt_at is not None
    assert record.next_attempt_at - T0 >= 120


def test_410_disables_that_webhook_and_others_keep_going(store: Store) -> None:
    net = MockNetwork()
    gone = net.add("gone", script=lambda n: Reply(410))
    fine = net.add("fine", secrets=(SECRET,))
    wall = SettableWall()
    ids = add_alerts(store, 3, ("gone", "fine"))
    hooks = (hook("gone", gone.url(), concurrency=1), hook("fine", fine.url()))
    _first, second = rounds(make_sender(store, wall, *hooks, transport=net.transport), 2)
    assert sorted(fine.ids()) == ids
    assert gone.requests == 1  # the rest of its batch is given back, not sent
    assert store.disabled_webhooks().keys() == {"gone"}
    states = sorted((r.state, r.attempts) for r in deliveries(store, "gone").values())
    assert states == [("failed", 1), ("pending", 0), ("pending", 0)]
    assert second == []  # a disabled webhook is not claimed
    store.enable_webhook("gone")
    wall.now = T0 + 1
    rounds(make_sender(store, wall, *hooks, transport=net.transport))
    assert gone.requests == 2  # re-enabled: it is tried again (and gone again)


def test_a_redirect_is_a_failure_and_is_not_followed(store: Store) -> None:
    net = MockNetwork()
    target = net.add("target")
    redirect = net.add("redirect", script=lambda n: Reply(307, {"location": target.url()}))
    (alert,) = add_alerts(store, 1, ("h",))
    config = hook("h", redirect.url())
    (outcomes,) = rounds(make_sender(store, SettableWall(), config, transport=net.transport))
    assert [(o.result, o.status_code) for o in outcomes] == [("retry", 307)]
    assert target.requests == 0
    error = deliveries(store)[alert].last_error
    assert error
    assert error.startswith("HTTP 307 redirect to ")
    assert "not followed" in error


def test_dead_letter_once_the_schedule_is_used_up(store: Store) -> None:
    net = MockNetwork()
    consumer = net.add("h", script=lambda n: Reply(503))
    wall = SettableWall()
    (alert,) = add_alerts(store, 1, ("h",))
    config = hook("h", consumer.url(), retry_schedule=[0, 1, 1], failure_threshold=10)
    results = []
    for step in range(4):
        wall.now = T0 + 2 * step
        (outcomes,) = rounds(make_sender(store, wall, config, transport=net.transport))
        results += [o.result for o in outcomes]
    assert results == ["retry", "retry", "dead"]
    record = deliveries(store)[alert]
    assert (record.state, record.attempts, record.next_attempt_at) == ("dead", 3, None)
    assert consumer.requests == 3


def test_breaker_pauses_a_dead_endpoint_while_a_healthy_one_is_served(store: Store) -> None:
    net = MockNetwork()
    dead = net.add("dead", script=lambda n: Reply(503, delay=0.05))
    healthy = net.add("healthy", secrets=(SECRET,))
    ids = add_alerts(store, 30, ("dead", "healthy"))
    hooks = (
        hook("dead", dead.url(), concurrency=4, failure_threshold=2, breaker_cooldown=0.5),
        hook("healthy", healthy.url(), concurrency=4),
    )
    sender = make_sender(store, SettableWall(), *hooks, transport=net.transport)

    async def scenario() -> tuple[list[DeliveryOutcome], int, int, int]:
        try:
            first = await sender.deliver_due()
            tried = dead.requests
            await sender.deliver_due()  # open: nothing goes out
            while_open = dead.requests - tried
            await asyncio.sleep(0.6)  # cooldown over: half-open
            await sender.deliver_due()
            return first, tried, while_open, dead.requests - tried - while_open
        finally:
            await sender.aclose()

    first, tried, while_open, probes = asyncio.run(scenario())
    assert sorted(healthy.ids()) == ids  # all 30 in the very first round
    dead_results = [o.result for o in first if o.webhook == "dead"]
    # Only what was in flight or queued before it opened went out, never the whole burst.
    assert 2 <= tried <= 4 + 2
    assert dead_results.count("retry") == tried
    assert dead_results.count("paused") == 30 - tried
    assert while_open == 0
    assert probes == 1
    attempts = [r.attempts for r in deliveries(store, "dead").values()]
    assert sum(attempts) == tried + probes  # paused deliveries kept their retry budget


def test_headers_and_signatures_carry_the_senders_wall_time(store: Store) -> None:
    net = MockNetwork()
    consumer = net.add("h", secrets=(SECRET, OLD_SECRET))
    (alert,) = add_alerts(store, 1, ("h",))
    config = hook("h", consumer.url(), secret=[SECRET, OLD_SECRET])
    rounds(make_sender(store, SettableWall(T0 + 42.7), config, transport=net.transport))
    assert consumer.rejected == []
    [headers] = consumer.headers
    assert headers["webhook-id"] == alert
    assert headers["webhook-timestamp"] == str(int(T0 + 42))
    assert headers["user-agent"] == USER_AGENT
    assert headers["content-type"] == "application/json"
    assert len(headers["webhook-signature"].split(" ")) == 2  # one per secret


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_reaches_the_wire_as_rendered_and_signed(store: Store, fmt: str) -> None:
    net = MockNetwork()
    plain = net.add("plain")
    formatted = net.add("formatted")
    add_alerts(store, 1, ("plain", "formatted"))
    hooks = (hook("plain", plain.url()), hook("formatted", formatted.url(), format=fmt))
    rounds(make_sender(store, SettableWall(), *hooks, transport=net.transport))
    [(_, payload)] = plain.received  # the alert document itself (format json)
    content_type, body = render(fmt, payload)
    [headers] = formatted.headers
    assert formatted.bodies == [body]
    assert headers["content-type"] == content_type
    assert signature_matches(SECRET, headers, body)
