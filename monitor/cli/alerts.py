"""``monitor alerts``: list alerts' deliveries, ``show`` one alert, ``replay`` deliveries."""

from __future__ import annotations

import argparse
import json
import time

from monitor.cli.times import ago
from monitor.config import Config
from monitor.errors import ConfigError
from monitor.redact import redact_text
from monitor.store import Store


def alerts(config: Config, args: argparse.Namespace) -> int:
    # Stored errors and payloads written before redaction existed may still hold secrets.
    secrets = config.secret_values()
    store = Store(config.state)
    try:
        now = time.time()
        if args.action == "show":
            payload = store.alert_payload(args.alert_id)
            if payload is None:
                raise ConfigError(f"no alert {args.alert_id!r}")
            print(redact_text(json.dumps(payload, indent=2, ensure_ascii=False), secrets))
            for d in store.list_deliveries(alert_id=args.alert_id):
                when = {
                    "delivered": f"delivered {ago(d.delivered_at, now)}",
                    "pending": f"next attempt {ago(d.next_attempt_at, now)}",
                    "failed": f"next attempt {ago(d.next_attempt_at, now)}",
                }.get(d.state, "no more attempts")
                print(
                    f"  -> {d.webhook}: {d.state}, {d.attempts} attempt(s), {when}, "
                    f"last status: {d.last_status or '-'}, "
                    f"last error: {redact_text(d.last_error or '-', secrets)}"
                )
            return 0
        if args.action == "replay":
            if not args.alert_id and not args.dead:
                raise ConfigError("alerts replay: give an alert id or --dead")
            if args.alert_id and store.alert_payload(args.alert_id) is None:
                raise ConfigError(f"no alert {args.alert_id!r}")
            count = store.replay(
                now,
                alert_id=args.alert_id,
                state="dead" if args.dead else None,
                webhook=args.replay_webhook,
                since=now - args.since if args.since else None,
            )
            print(f"re-queued {count} deliver{'y' if count == 1 else 'ies'} (same webhook-id)")
            for name, stored_reason in store.disabled_webhooks().items():
                reason = redact_text(stored_reason, secrets)
                if name == args.replay_webhook:  # replaying to it names it: enable it again
                    store.enable_webhook(name)
                    print(f"webhook {name!r} enabled again (was: {reason})")
                elif args.replay_webhook is None:
                    print(
                        f"warning: webhook {name!r} is disabled ({reason}); its deliveries "
                        f"wait until `alerts replay --dead --webhook {name}` enables it"
                    )
            return 0
        records = store.list_deliveries(limit=args.limit, state=args.state, webhook=args.webhook)
    finally:
        store.close()
    print(f"{'ALERT':30} {'RULE':16} {'WEBHOOK':12} {'STATE':9} {'TRIES':>5} {'CREATED':>9}  TITLE")
    for r in records:
        error = ""
        if r.last_error and r.state != "delivered":
            error = f"  [{redact_text(r.last_error, secrets)}]"
        print(
            f"{r.alert_id:30} {r.rule[:16]:16} {r.webhook[:12]:12} {r.state:9} {r.attempts:>5} "
            f"{ago(r.created_at, now):>9}  {r.title[:60]}{error}"
        )
    return 0
