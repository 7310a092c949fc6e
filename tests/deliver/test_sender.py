"""The sender against real local consumers (sockets) and a real SQLite outbox: what the
transport does (connections, timeouts, the SSRF guard, no proxy) and signatures as the
standardwebhooks package verifies them. Status handling and lanes: test_attempts, test_lanes.
"""

from __future__ import annotations

import random

import pytest

from monitor.deliver.sender import Sender
from monitor.net.useragent import USER_AGENT
from monitor.store import Store
from tests.deliver.consumer import (
    OLD_SECRET,
    SECRET,
    Consumer,
    Reply,
    SettableWall,
    add_alerts,
    deliveries,
    hook,
    make_config,
    make_sender,
    real_wall,
    rounds,
    start,
)
from tests.e2e.servers import free_port


def test_down_consumer_is_retried_5s_later_and_gets_the_same_webhook_id(
    store: Store, consumers: list[Consumer]
) -> None:
    port = free_port()
    wall = real_wall()  # the consumer checks the signature's timestamp against the real time
    began = wall.now
    (alert,) = add_alerts(store, 1, ("h",))
    config = hook("h", f"http://127.0.0.1:{port}/hook")
    (first,) = rounds(make_sender(store, wall, config))
    assert [o.result for o in first] == ["retry"]
    record = deliveries(store)[alert]
    assert (record.state, record.attempts, record.last_status) == ("failed", 1, None)
    assert record.last_error
    assert "Connect" in record.last_error
    assert record.next_attempt_at is not None
    assert 5 * 0.85 <= record.next_attempt_at - began <= 5 * 1.15  # 5 s with jitter
    consumer = start(consumers, secrets=(SECRET,), port=port)
    wall.now = began + 1
    (early,) = rounds(make_sender(store, wall, config))
    assert early == []
    assert consumer.requests == 0
    wall.now = record.next_attempt_at
    (second,) = rounds(make_sender(store, wall, config))
    assert [o.result for o in second] == ["delivered"]
    assert consumer.ids() == [alert]
    assert (deliveries(store)[alert].state, deliveries(store)[alert].attempts) == ("delivered", 2)


def test_a_consumer_slower_than_the_timeout_is_a_failure(
    store: Store, consumers: list[Consumer]
) -> None:
    consumer = start(consumers, script=lambda n: Reply(204, delay=1.5))
    (alert,) = add_alerts(store, 1, ("h",))
    config = hook("h", consumer.url(), timeout=0.3)
    (outcomes,) = rounds(make_sender(store, SettableWall(), config))
    assert [o.result for o in outcomes] == ["retry"]
    assert deliveries(store)[alert].last_error == "timed out after 0.3s"


def test_a_host_resolving_to_a_refused_address_is_a_failure_not_a_crash(
    store: Store, consumers: list[Consumer]
) -> None:
    consumer = start(consumers)
    (alert,) = add_alerts(store, 1, ("h",))
    # A name, not an IP: the SSRF guard refuses it when connecting, after it resolves.
    url = consumer.url().replace("127.0.0.1", "localhost")
    config = make_config(hook("h", url), network={"allow_private": False})
    clock = SettableWall().clock()
    (outcomes,) = rounds(Sender(config, store, owner="test", clock=clock, rng=random.Random(7)))
    assert [o.result for o in outcomes] == ["retry"]
    assert consumer.requests == 0
    error = deliveries(store)[alert].last_error
    assert error
    assert error.startswith("refused: localhost resolves to ")


def test_sends_go_straight_to_the_consumer_never_through_an_environment_proxy(
    store: Store, consumers: list[Consumer], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A proxy would make the connection itself, out of the SSRF guard's sight.
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{free_port()}")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    consumer = start(consumers)
    ids = add_alerts(store, 2, ("h",))
    (outcomes,) = rounds(make_sender(store, SettableWall(), hook("h", consumer.url())))
    assert [o.result for o in outcomes] == ["delivered"] * 2
    assert sorted(consumer.ids()) == ids
    assert consumer.user_agents == {USER_AGENT}


def test_sends_share_one_connection_per_concurrency_slot(
    store: Store, consumers: list[Consumer]
) -> None:
    # A one-connection client per concurrent send (httpcore's pool scan stays O(1)); the
    # semaphore caps how many exist, and they are reused, kept alive, across batches.
    consumer = start(consumers, script=lambda n: Reply(204, delay=0.05))
    add_alerts(store, 40, ("h",))  # more than one batch at concurrency 2 (32)
    sender = make_sender(store, SettableWall(), hook("h", consumer.url(), concurrency=2))
    first, second = rounds(sender, 2)
    assert [o.result for o in first] == ["delivered"] * 40
    assert second == []
    assert consumer.max_in_flight == 2
    assert len(consumer.connections) == 2
    assert sender.poster.clients.idle() == 0  # closed by aclose


def test_every_secret_signs_so_rotation_has_no_gap(store: Store, consumers: list[Consumer]) -> None:
    new_only = start(consumers, secrets=(SECRET,))
    old_only = start(consumers, secrets=(OLD_SECRET,))
    stranger = start(consumers, secrets=("whsec_" + "c29tZW9uZS1lbHNlcy1zZWNyZXQta2V5LWhlcmU=",))
    ids = add_alerts(store, 2, ("new", "old", "stranger"))
    both = [SECRET, OLD_SECRET]
    rounds(
        make_sender(
            store,
            real_wall(),  # the consumers check each signature's timestamp against the real time
            hook("new", new_only.url(), secret=both),
            hook("old", old_only.url(), secret=both),
            hook("stranger", stranger.url(), secret=both),
        )
    )
    assert sorted(new_only.ids()) == ids
    assert sorted(old_only.ids()) == ids
    assert new_only.rejected == []
    assert old_only.rejected == []
    assert stranger.ids() == []
    assert len(stranger.rejected) == 2
