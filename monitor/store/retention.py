"""Retention: the store stops growing. Item text goes first; an item's key stays longer, so
a re-published item is still recognised; nothing still to be delivered is ever dropped."""

from __future__ import annotations

from sqlalchemy import or_, select, update

from monitor.store.engine import Database, writes
from monitor.store.outbox import RETRYABLE
from monitor.store.schema import alerts, deliveries, digests, items


class Retention:
    def __init__(self, db: Database) -> None:
        self.db = db

    @writes
    def prune(self, *, content_before: float, keys_before: float) -> tuple[int, int]:
        """Drop item text older than ``content_before``; forget items, their alerts and
        deliveries older than ``keys_before`` (never one still waiting to be delivered).
        Returns (items emptied, items forgotten)."""
        unfinished = select(deliveries.c.alert_id).where(
            deliveries.c.state.in_((*RETRYABLE, "held"))
        )
        with self.db.write() as conn:
            conn.execute(
                digests.delete().where(
                    digests.c.sealed_at.is_not(None), digests.c.sealed_at < keys_before
                )
            )
            old_alerts = select(alerts.c.id).where(
                alerts.c.created_at < keys_before, alerts.c.id.not_in(unfinished)
            )
            conn.execute(deliveries.delete().where(deliveries.c.alert_id.in_(old_alerts)))
            conn.execute(alerts.delete().where(alerts.c.id.in_(old_alerts)))
            forgotten = conn.execute(
                items.delete().where(
                    items.c.first_seen_at < keys_before,
                    items.c.id.not_in(select(alerts.c.item_id)),
                )
            ).rowcount
            emptied = conn.execute(
                update(items)
                .where(
                    items.c.first_seen_at < content_before,
                    or_(items.c.content != "", items.c.summary != ""),
                )
                .values(content="", summary="")
            ).rowcount
        return int(emptied), int(forgotten)
