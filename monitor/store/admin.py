"""What operators ask of the store (``monitor status``, ``alerts``, ``rules test``): counts,
listings, stored alert documents and items."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select

from monitor.models import DeliveryRecord, Item
from monitor.store import rows
from monitor.store.engine import Database, reads
from monitor.store.outbox import deliveries_where
from monitor.store.schema import alerts, deliveries, digests, items


class Admin:
    def __init__(self, db: Database) -> None:
        self.db = db

    @reads
    def delivery_counts(self) -> dict[str, int]:
        with self.db.read() as conn:
            found = conn.execute(
                select(deliveries.c.state, func.count()).group_by(deliveries.c.state)
            )
            return {state: int(count) for state, count in found}

    @reads
    def list_deliveries(
        self,
        *,
        limit: int = 50,
        state: str | None = None,
        webhook: str | None = None,
        since: float | None = None,
        alert_id: str | None = None,
    ) -> list[DeliveryRecord]:
        chosen = deliveries_where(state=state, webhook=webhook, since=since, alert_id=alert_id)
        query = (
            select(
                deliveries,
                alerts.c.rule,
                items.c.title,
                items.c.link,
                digests.c.kind.label("digest_kind"),
                digests.c.held.label("digest_held"),
            )
            .join(alerts, alerts.c.id == deliveries.c.alert_id)
            .join(items, items.c.id == alerts.c.item_id)
            # A digest's alert row points at its oldest item only to satisfy the foreign key.
            .outerjoin(digests, digests.c.id == alerts.c.id)
            .where(chosen)
            .order_by(deliveries.c.created_at.desc(), deliveries.c.id.desc())
            .limit(limit)
        )
        with self.db.read() as conn:
            return [rows.delivery_record(row) for row in conn.execute(query)]

    @reads
    def alert_payload(self, alert_id: str) -> dict[str, Any] | None:
        with self.db.read() as conn:
            raw = conn.execute(select(alerts.c.payload).where(alerts.c.id == alert_id)).scalar()
        return json.loads(raw) if raw is not None else None

    @reads
    def items_since(self, since: float, limit: int = 10000) -> list[Item]:
        with self.db.read() as conn:
            found = conn.execute(
                select(items)
                .where(items.c.first_seen_at >= since)
                .order_by(items.c.first_seen_at)
                .limit(limit)
            )
            return [rows.item(row) for row in found]
