"""``monitor alerts``, ``alerts show`` and ``alerts replay`` through the real command."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor.deliver.sender import Sender
from monitor.models import DeliveryResult
from monitor.store import Store
from tests.deliver.consumer import SECRET, Consumer, add_alerts, make_config, open_store

# The real `monitor` command in a subprocess, against a real store and receiver.
pytestmark = pytest.mark.e2e

DAY = 86400.0


def monitor(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args, "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def write_config(tmp_path: Path, url: str) -> Path:
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f"state: sqlite:///{tmp_path}/state.db\n"
        "feeds: []\n"
        "webhooks:\n"
        f"  - {{name: h, url: '{url}', secret: '{SECRET}'}}\n"
        f"  - {{name: k, url: '{url}', secret: '{SECRET}'}}\n"
    )
    return config


def settle(store: Store, alert: str, webhook: str, state: str, error: str | None) -> None:
    claimed = store.claim_due_deliveries(time.time(), owner="t", lease=60, webhooks=[webhook])
    (job,) = [j for j in claimed if j.alert_id == alert]
    result = DeliveryResult(
        job.delivery_id,
        state=state,
        attempts=8 if state == "dead" else 1,
        next_attempt_at=time.time() + 300 if state == "failed" else None,
        last_error=error,
        last_status=500 if error else 204,
        delivered_at=time.time() if state == "delivered" else None,
        lease_token=job.lease_token,
    )
    store.record_deliveries([result])
    store.release_leases("t")


def states(store: Store) -> dict[tuple[str, str], tuple[str, int]]:
    return {(r.alert_id, r.webhook): (r.state, r.attempts) for r in store.list_deliveries()}


def test_list_show_and_replay(tmp_path: Path) -> None:
    consumer = Consumer(secrets=(SECRET,))
    store = open_store(tmp_path)
    try:
        config = write_config(tmp_path, consumer.url())
        now = time.time()
        old, recent, done = add_alerts(store, 3, ("h", "k"), created=[now - 3 * DAY, now, now])
        settle(store, old, "h", "dead", "HTTP 500")
        settle(store, recent, "h", "dead", "HTTP 500")
        settle(store, recent, "k", "failed", "HTTP 503")
        settle(store, done, "h", "delivered", None)

        listing = monitor(config, "alerts")
        assert listing.returncode == 0, listing.stderr
        rows = [line.split() for line in listing.stdout.splitlines()[1:]]
        assert {(row[0], row[2], row[3], row[4]) for row in rows} == {
            (old, "h", "dead", "8"),
            (old, "k", "pending", "0"),
            (recent, "h", "dead", "8"),
            (recent, "k", "failed", "1"),
            (done, "h", "delivered", "1"),
            (done, "k", "pending", "0"),
        }
        failed_row = next(line for line in listing.stdout.splitlines() if " failed " in line)
        assert failed_row.endswith("[HTTP 503]")
        dead_only = monitor(config, "alerts", "--state", "dead")
        assert sorted(line.split()[0] for line in dead_only.stdout.splitlines()[1:]) == sorted(
            [old, recent]
        )

        show = monitor(config, "alerts", "show", recent)
        assert show.returncode == 0, show.stderr
        document, _, tail = show.stdout.rpartition("}\n")
        assert json.loads(document + "}")["data"]["alert_id"] == recent
        assert "-> h: dead, 8 attempt(s)" in tail
        assert "-> k: failed, 1 attempt(s)" in tail
        assert "last error: HTTP 503" in tail
        missing = monitor(config, "alerts", "show", "msg_nope")
        assert missing.returncode == 2
        assert "no alert 'msg_nope'" in missing.stderr

        # Only dead, only on h, only from the last day: the 3-day-old one stays dead.
        replay = monitor(config, "alerts", "replay", "--dead", "--webhook", "h", "--since", "1d")
        assert replay.returncode == 0, replay.stderr
        assert replay.stdout.startswith("re-queued 1 delivery")
        assert states(store)[(recent, "h")] == ("pending", 0)
        assert states(store)[(old, "h")] == ("dead", 8)
        again = monitor(config, "alerts", "replay", done)
        assert again.stdout.startswith("re-queued 2 deliveries")
        assert monitor(config, "alerts", "replay", "msg_nope").returncode == 2
        assert monitor(config, "alerts", "replay").returncode == 2

        async def deliver() -> None:
            hooks = [{"name": name, "url": consumer.url(), "secret": SECRET} for name in "hk"]
            sender = Sender(make_config(*hooks), store, owner="t")
            try:
                await sender.deliver_due()
            finally:
                await sender.aclose()

        asyncio.run(deliver())
        # The replayed alerts arrive under their original webhook-ids.
        assert recent in consumer.ids()
        assert consumer.ids().count(done) == 2  # once per webhook: replay re-sends
        assert states(store)[(recent, "h")] == ("delivered", 1)
    finally:
        store.close()
        consumer.close()


def test_replaying_to_a_disabled_webhook_enables_it(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    try:
        config = write_config(tmp_path, "http://127.0.0.1:9/hook")
        (alert,) = add_alerts(store, 1, ("k",), created=[time.time()])
        settle(store, alert, "k", "dead", "HTTP 500")
        store.disable_webhook("k", "HTTP 410 Gone", time.time())
        warned = monitor(config, "alerts", "replay", alert)
        assert "webhook 'k' is disabled (HTTP 410 Gone)" in warned.stdout
        assert store.disabled_webhooks() == {"k": "HTTP 410 Gone"}
        enabled = monitor(config, "alerts", "replay", "--dead", "--webhook", "k")
        assert enabled.returncode == 0, enabled.stderr
        assert "webhook 'k' enabled again" in enabled.stdout
        assert store.disabled_webhooks() == {}
    finally:
        store.close()
