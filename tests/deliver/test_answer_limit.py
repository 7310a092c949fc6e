"""A consumer's answer is read up to a limit: an endless body costs neither memory nor time."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from monitor.store import Store
from tests.deliver.consumer import SettableWall, add_alerts, deliveries, hook, make_sender, rounds
from tests.net.hostile import endless


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_an_endless_answer_is_delivered_without_reading_it_all(store: Store, chunked: bool) -> None:
    consumer = endless(chunked=chunked)
    tracemalloc.start()
    started = time.monotonic()
    try:
        (alert,) = add_alerts(store, 1, ("h",))
        (outcomes,) = rounds(
            make_sender(store, SettableWall(), hook("h", consumer.url(), timeout=10))
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        consumer.close()
    assert [o.result for o in outcomes] == ["delivered"]
    assert deliveries(store)[alert].state == "delivered"
    assert peak < 20 * 1024**2
    assert time.monotonic() - started < 8
