"""Throttles and digests: where a new alert's deliveries go, and sealing ended digests.

Throttle counts and open digests are rows updated in the transaction that writes the
alerts, so instances sharing the store decide together (``monitor.core.routing`` decides,
this module counts). Sealing makes each ended digest one alert with one delivery.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, func, select, update

from monitor.core import routing as digest
from monitor.models import NewAlert, SealedDigest
from monitor.store import rows
from monitor.store.engine import Database, writes
from monitor.store.schema import alerts, deliveries, digests, throttle_windows

# Writes a sealed digest's webhook document (``monitor.documents``): given by the caller,
# so the store knows nothing of the document's format.
DigestBuilder = Callable[[SealedDigest], dict[str, Any]]


def _alert_rule(kind: str) -> str:
    """The rule a digest's alert row names: a throttle's own rule, else ``digest:<kind>``."""
    return kind.removeprefix("throttle:") if kind.startswith("throttle:") else f"digest:{kind}"


class Digests:
    def __init__(self, db: Database) -> None:
        self.db = db
        # Throttles and digests (``set_routing``); empty: every alert goes out individually.
        self.routing = digest.Routing()

    def set_routing(self, routing: digest.Routing) -> None:
        """The config's rule throttles and webhook digests, for the polls written from now."""
        self.routing = routing

    def delivery_rows(self, conn: Connection, new: Sequence[NewAlert]) -> list[dict[str, Any]]:
        """The new alerts' deliveries: ``pending``, or ``held`` in a digest (throttle, or a
        digest webhook), counted in the caller's transaction."""
        routing = self.routing

        def row(alert: NewAlert, hook: str, slot: digest.Slot | None) -> dict[str, Any]:
            return {
                "alert_id": alert.id,
                "webhook": hook,
                "state": "pending" if slot is None else "held",
                "attempts": 0,
                "next_attempt_at": alert.created_at if slot is None else None,
                "created_at": alert.created_at,
                "digest_id": None if slot is None else slot.id,
            }

        if not routing.active:
            return [row(alert, hook, None) for alert in new for hook in alert.webhooks]
        throttled = self._throttled(conn, new, routing)
        plans: list[tuple[NewAlert, tuple[str, ...], list[digest.Slot]]] = []
        slots: dict[str, tuple[digest.Slot, int]] = {}
        for alert in new:
            individual, held = digest.route(
                alert.webhooks,
                rule=alert.rule,
                created_at=alert.created_at,
                throttled=alert.id in throttled,
                routing=routing,
            )
            plans.append((alert, individual, held))
            for slot in held:
                slots[slot.id] = (slot, slots.get(slot.id, (slot, 0))[1] + 1)
        sealed = self._join_digests(conn, slots)
        result = []
        for alert, individual, held in plans:
            result += [row(alert, hook, None) for hook in individual]
            result += [row(alert, s.webhook, None if s.id in sealed else s) for s in held]
        return result

    def _throttled(
        self, conn: Connection, new: Sequence[NewAlert], routing: digest.Routing
    ) -> set[str]:
        """Count the alerts in their rules' throttle windows: the ids over a throttle."""
        throttled: set[str] = set()
        windows: dict[tuple[str, float], list[NewAlert]] = {}
        for alert in new:
            throttle = routing.throttles.get(alert.rule)
            if throttle is not None:
                start, _ = digest.window(alert.created_at, throttle.per)
                windows.setdefault((alert.rule, start), []).append(alert)
        for (rule, start), group in sorted(windows.items()):  # one lock order for all writers
            insert = self.db.insert(throttle_windows).values(
                rule=rule, window_start=start, seen=len(group)
            )
            seen = conn.execute(
                insert.on_conflict_do_update(
                    index_elements=["rule", "window_start"],
                    set_={"seen": throttle_windows.c.seen + insert.excluded.seen},
                ).returning(throttle_windows.c.seen)
            ).scalar_one()
            before = int(seen) - len(group)
            throttle = routing.throttles[rule]
            throttled.update(
                a.id for i, a in enumerate(group) if digest.is_held(before + i, throttle)
            )
        return throttled

    def _join_digests(
        self, conn: Connection, slots: dict[str, tuple[digest.Slot, int]]
    ) -> set[str]:
        """Add the held alerts to their open digests: the ids of those sealed already (a
        late poll), whose alerts go out individually instead."""
        sealed: set[str] = set()
        for slot_id, (slot, count) in sorted(slots.items()):
            insert = self.db.insert(digests).values(
                id=slot.id,
                webhook=slot.webhook,
                kind=slot.kind,
                window_start=slot.start,
                window_end=slot.end,
                held=count,
            )
            joined = conn.execute(
                insert.on_conflict_do_update(
                    index_elements=["id"],
                    set_={"held": digests.c.held + insert.excluded.held},
                    where=digests.c.sealed_at.is_(None),
                ).returning(digests.c.id)
            ).first()
            if joined is None:
                sealed.add(slot_id)
        return sealed

    def _due(self, now: float) -> bool:
        """Whether a digest window has ended unsealed (a read: idle sweeps take no lock)."""
        with self.db.read() as conn:
            query = select(digests.c.id).where(
                digests.c.sealed_at.is_(None), digests.c.window_end <= now
            )
            return conn.execute(query.limit(1)).first() is not None

    @writes
    def seal_due_digests(
        self, now: float, build_document: DigestBuilder, *, listed: int
    ) -> list[str]:
        """Seal every digest whose window has ended: ONE transaction makes each an alert with
        its document (``build_document``, listing the oldest ``listed`` held alerts) and one
        pending delivery, and marks its held deliveries ``digested``. Idempotent and safe
        beside other instances (a digest being written to is skipped until the next call).
        Returns the ids of the digests sealed."""
        if not self._due(now):
            return []
        query = self.db.skip_locked(
            select(digests)
            .where(digests.c.sealed_at.is_(None), digests.c.window_end <= now)
            .order_by(digests.c.id)
        )
        with self.db.write() as conn:
            done: list[str] = []
            for slot in conn.execute(query).all():
                members = (
                    select(alerts.c.id, alerts.c.rule, alerts.c.created_at, alerts.c.payload)
                    .add_columns(alerts.c.item_id)
                    .join(deliveries, deliveries.c.alert_id == alerts.c.id)
                    .where(deliveries.c.digest_id == slot.id, deliveries.c.state == "held")
                    .order_by(alerts.c.created_at, alerts.c.id)
                )
                count = conn.execute(
                    select(func.count()).select_from(members.subquery())
                ).scalar_one()
                oldest = conn.execute(members.limit(listed)).all()
                conn.execute(
                    update(digests)
                    .where(digests.c.id == slot.id)
                    .values(sealed_at=now, held=int(count))
                )
                if not oldest:  # nothing held (e.g. replayed away): nothing to send
                    continue
                document = build_document(
                    SealedDigest(
                        id=slot.id,
                        kind=slot.kind,
                        window_start=slot.window_start,
                        window_end=slot.window_end,
                        sealed_at=now,
                        count=int(count),
                        alerts=tuple(rows.held_alert(r) for r in oldest),
                    )
                )
                created = conn.execute(
                    self.db.insert(alerts)
                    .values(
                        id=slot.id,
                        rule=_alert_rule(slot.kind),
                        story_key=slot.id,
                        item_id=oldest[0].item_id,  # the oldest listed item (not null)
                        payload=json.dumps(document, ensure_ascii=False),
                        created_at=now,
                    )
                    .on_conflict_do_nothing()
                    .returning(alerts.c.id)
                ).first()
                if created is not None:
                    conn.execute(
                        self.db.insert(deliveries)
                        .values(
                            alert_id=slot.id,
                            webhook=slot.webhook,
                            state="pending",
                            attempts=0,
                            next_attempt_at=now,
                            created_at=now,
                        )
                        .on_conflict_do_nothing()
                    )
                conn.execute(
                    update(deliveries)
                    .where(deliveries.c.digest_id == slot.id, deliveries.c.state == "held")
                    .values(state="digested")
                )
                done.append(slot.id)
            return done
