"""A sealed digest goes through the normal outbox to a real local consumer."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import jsonschema

from monitor.config import routing_from_config
from monitor.core import routing as digest
from monitor.deliver.sender import Sender
from monitor.documents.payload import DIGEST_LIMIT, digest_document
from tests.deliver.consumer import SECRET, Consumer, add_alerts, make_config, open_store, real_wall

SCHEMA = json.loads(
    (Path(__file__).parents[2] / "monitor/documents/schema/digest.v1.json").read_text()
)


def test_a_daily_digest_is_delivered_signed_and_valid(tmp_path: Path) -> None:
    consumer = Consumer(secrets=(SECRET,))
    store = open_store(tmp_path)
    try:
        config = make_config(
            {"name": "daily", "url": consumer.url(), "secret": [SECRET], "digest": "daily"}
        )
        # The consumer checks the signature's timestamp against the real time: the alerts
        # are from yesterday, so their day has ended by now.
        wall = real_wall()
        yesterday = wall.now - 86400
        store.set_routing(routing_from_config(config))  # as the composition root does
        sender = Sender(config, store, owner="test", clock=wall.clock(), rng=random.Random(7))
        ids = add_alerts(store, 3, ("daily",), created=[yesterday] * 3)

        async def run() -> None:
            try:
                assert await sender.deliver_due() == []  # no individual alerts
                day = yesterday - yesterday % 86400
                [sealed] = store.seal_due_digests(day + 86400, digest_document, listed=DIGEST_LIMIT)
                assert sealed == digest.digest_id("daily", "daily", day)
                [outcome] = await sender.deliver_due()
                assert (outcome.alert_id, outcome.result) == (sealed, "delivered")
                assert await sender.deliver_due() == []
            finally:
                await sender.aclose()

        asyncio.run(run())
        assert consumer.rejected == []  # the signature verified
        [(webhook_id, body)] = consumer.received
        jsonschema.validate(body, SCHEMA, format_checker=jsonschema.FormatChecker())
        assert body["data"]["digest_id"] == webhook_id
        assert [entry["alert_id"] for entry in body["data"]["alerts"]] == ids
        assert body["data"]["alerts"][0]["snippet"] == "**Story** a0"
        states = {d.alert_id: d.state for d in store.list_deliveries(limit=100)}
        assert states == {**dict.fromkeys(ids, "digested"), webhook_id: "delivered"}
    finally:
        store.close()
        consumer.close()
