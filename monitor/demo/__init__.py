"""``monitor demo``: the whole pipeline, offline, in seconds.

Serves the bundled sample feeds (our own sample articles: RSS, Atom, JSON Feed, one in Urdu)
on a local port, polls them with the configured rules, and delivers to a built-in local
receiver that verifies each signature and prints the alert with its matched snippets.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import tempfile
from importlib import resources
from typing import Any, TextIO

from standardwebhooks import Webhook

from monitor.config import Config
from monitor.runtime.compose import open_app
from monitor.runtime.httpserver import Request, Response, serve

SAMPLES = {
    "/politics.xml": ("demo-politics", "application/rss+xml"),
    "/world.atom": ("demo-world", "application/atom+xml"),
    "/urdu.json": ("demo-urdu", "application/feed+json"),
}


def _bold(text: str, tty: bool) -> str:
    if not tty:
        return text
    parts = text.split("**")
    return "".join(f"\033[1;33m{p}\033[0m" if i % 2 else p for i, p in enumerate(parts))


def format_alert(payload: dict[str, Any], *, verified: bool, tty: bool) -> str:
    data = payload["data"]
    item = data["item"]
    lines = [
        f"━━ ALERT  {data['rule']}  ({data['alert_id']}, signature "
        f"{'verified' if verified else 'INVALID'})",
        f"   {item['title']}",
        f"   {item['link']}  ·  {data['feed']['name']}",
    ]
    for match in data.get("matches", []):
        lines.append(f"   {match['field']}: {_bold(match['snippet'], tty)}")
    return "\n".join(lines)


async def run_demo(config: Config, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    tty = out.isatty()
    secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    received: list[str] = []

    def feed_route(path: str) -> Any:
        async def route(_request: Request) -> Response:
            body = resources.files(__package__).joinpath(path.lstrip("/")).read_bytes()
            return 200, SAMPLES[path][1], body

        return route

    async def receiver(request: Request) -> Response:
        try:
            Webhook(secret).verify(request.body, dict(request.headers))
            verified = True
        except Exception:  # any verification failure is shown, never raised
            verified = False
        payload = json.loads(request.body)
        received.append(payload["data"]["alert_id"])
        print(format_alert(payload, verified=verified, tty=tty) + "\n", file=out, flush=True)
        return (204 if verified else 401), "text/plain", b""

    routes = {path: feed_route(path) for path in SAMPLES}
    routes["/hook"] = receiver
    server = await serve("127.0.0.1", 0, routes)
    port = server.sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="news-monitor-demo-") as state_dir:
        demo = Config.model_validate(
            {
                "state": f"sqlite:///{state_dir}/demo.db",
                # One local server stands for three sites: no per-host gap.
                "network": {"allow_private": True, "per_host_gap": 0},
                "feeds": [
                    {"url": base + path, "name": name} for path, (name, _) in SAMPLES.items()
                ],
                "rules": [rule.model_dump() for rule in config.rules],
                "webhooks": [{"name": "demo-receiver", "url": base + "/hook", "secret": secret}],
            }
        )
        print(
            f"news-monitor demo: {len(SAMPLES)} sample feeds on {base}, rules: "
            f"{', '.join(r.name for r in config.rules)}\n",
            file=out,
            flush=True,
        )
        async with open_app(demo) as app:
            polls = await app.poll_all()
            await app.drain_deliveries(5.0)
    server.close()
    await server.wait_closed()
    items = sum(p.new_items for p in polls)
    print(
        f"{items} items from {len(polls)} feeds, {len(received)} alerts delivered and verified.\n"
        "Next: add your feeds and webhooks to config/monitor.yaml, check it with "
        "`monitor check`, then `monitor run`.",
        file=out,
    )
    return 0
