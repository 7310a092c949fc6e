"""How soon after a consumer's outage do the alerts it missed arrive? (issue 17)

Run ``.venv/bin/python bench/outage.py`` (``--outage 25``). The real ``monitor run`` daemon,
with the default delivery settings (retry schedule, breaker), polls a local feed; a local
consumer that verifies signatures answers 503 for ``--outage`` seconds while four matching
items appear, one every four seconds, then 204. Printed: when each held alert arrived,
counted from the recovery, and whether each arrived once under its first webhook-id.

Target: every held alert within 30 s of the recovery, once. Before the recovery release,
held alerts waited for their backoff (5 min, 30 min...): none of four arrived within 60 s.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.conftest import SECRET, rss
from tests.e2e.servers import FeedServer, Receiver, free_port

ALERTS = 4
TARGET = 30.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outage", type=float, default=25.0, help="seconds of 503 (25)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="nm-outage-"))
    feeds = FeedServer()
    quiet = ("g0", "Weather", "Sunny")
    feeds.documents["/a.xml"] = rss(quiet)
    recover_at = float("inf")
    receiver = Receiver(
        secrets=(SECRET,), behaviour=lambda n: 204 if time.time() >= recover_at else 503
    )
    config = {
        "state": f"sqlite:///{tmp}/state.db",
        "server": {"listen": f"127.0.0.1:{free_port()}"},
        "network": {"allow_private": True, "per_host_gap": 0},
        "feeds": [{"url": feeds.url("/a.xml"), "interval": 1, "min_interval": 1}],
        "rules": [{"name": "strikes", "query": "strike"}],
        "webhooks": [{"name": "consumer", "url": receiver.url(), "secret": SECRET}],
    }
    (tmp / "monitor.yaml").write_text(json.dumps(config))
    with (tmp / "daemon.log").open("w") as log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "-c", str(tmp / "monitor.yaml")],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            time.sleep(4)  # started, the quiet feed polled
            recover_at = time.time() + args.outage
            for n in range(1, ALERTS + 1):  # the alerts are created during the outage
                stories = [(f"s{j}", f"Dock strike {j}", "Workers strike") for j in range(n)]
                feeds.documents["/a.xml"] = rss(quiet, *stories)
                time.sleep(min(4.0, args.outage / ALERTS))
            deadline = recover_at + 3 * TARGET
            while time.time() < deadline and len(receiver.received) < ALERTS:
                time.sleep(0.2)
        finally:
            daemon.terminate()
            daemon.wait()
    receiver.close()
    feeds.close()
    ids = receiver.ids()
    print(f"outage {args.outage:.0f} s, {receiver.attempts} requests, {len(ids)} delivered")
    for received in receiver.received:
        print(f"  {received.webhook_id}  +{received.at - recover_at:.1f} s after the recovery")
    late = [r for r in receiver.received if r.at - recover_at > TARGET]
    met = len(ids) == ALERTS and len(set(ids)) == ALERTS and not late
    print(f"  [{'ok' if met else 'MISSED'}] every held alert within {TARGET:.0f} s, once")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
