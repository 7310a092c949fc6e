"""The outbox: deliveries due, leased to a sender, their outcomes, replays, paused webhooks.

A delivery is ``pending`` or ``failed`` (retryable) until it is ``delivered`` or ``dead``;
``held`` ones wait in a digest (``digests``) and are never claimed or replayed here.
A webhook's ``webhook_state`` row says whether it is disabled (a 410) and until when its
consumer's Retry-After holds it: no delivery of either is claimed meanwhile.

Outcomes and releases are fenced (``leases``): written only under the claim's token, so a
sender that lost its claim (taken over while it stood still) never overwrites the new
holder's work, nor flips a ``delivered`` row back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, bindparam, case, func, or_, select, true

from monitor.models import DeliveryJob, DeliveryResult
from monitor.store import rows
from monitor.store.engine import Database, reads, writes
from monitor.store.leases import lease_rows, unlease
from monitor.store.schema import alerts, deliveries, items, webhook_state

RETRYABLE = ("pending", "failed")


def deliveries_where(
    *,
    state: str | None = None,
    webhook: str | None = None,
    since: float | None = None,
    alert_id: str | None = None,
) -> ColumnElement[bool]:
    """The deliveries an operator picked (``monitor alerts``, ``alerts replay``)."""
    conditions = []
    if state:
        conditions.append(deliveries.c.state == state)
    if webhook:
        conditions.append(deliveries.c.webhook == webhook)
    if since is not None:
        conditions.append(deliveries.c.created_at >= since)
    if alert_id:
        conditions.append(deliveries.c.alert_id == alert_id)
    return and_(true(), *conditions)


class Outbox:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _claimable(self, now: float) -> Any:
        """Deliveries that may be sent if due: retryable, not leased, their webhook neither
        disabled nor held."""
        blocked = select(webhook_state.c.name).where(
            or_(webhook_state.c.disabled_at.is_not(None), webhook_state.c.held_until > now)
        )
        return and_(
            deliveries.c.state.in_(RETRYABLE),
            or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until < now),
            deliveries.c.webhook.not_in(blocked),
        )

    def _due(self, now: float) -> Any:
        """Deliveries that may be tried now."""
        return and_(self._claimable(now), deliveries.c.next_attempt_at <= now)

    @reads
    def due_webhooks(self, now: float) -> set[str]:
        """Webhooks with a delivery to try now (a read: idle rounds take no write lock)."""
        with self.db.read() as conn:
            query = select(deliveries.c.webhook).where(self._due(now)).distinct()
            return set(conn.execute(query).scalars())

    @reads
    def next_delivery_due(self) -> float | None:
        """When the next retryable delivery falls due; a held webhook's, once its hold ends."""
        held = webhook_state.c.held_until
        due_at = case(
            (held > deliveries.c.next_attempt_at, held), else_=deliveries.c.next_attempt_at
        )
        with self.db.read() as conn:
            value = conn.execute(
                select(func.min(due_at))
                .select_from(
                    deliveries.outerjoin(
                        webhook_state, webhook_state.c.name == deliveries.c.webhook
                    )
                )
                .where(deliveries.c.state.in_(RETRYABLE))
            ).scalar()
        return float(value) if value is not None else None

    @writes
    def claim_due_deliveries(
        self,
        now: float,
        *,
        owner: str,
        lease: float,
        limit: int = 200,
        webhooks: Sequence[str] = (),
    ) -> list[DeliveryJob]:
        """Lease due deliveries to these webhooks, oldest alert first, skipping disabled and
        held ones."""
        where = and_(self._due(now), deliveries.c.webhook.in_(list(webhooks)))
        with self.db.write() as conn:
            return self._claim(conn, where, limit, owner, now + lease)

    @writes
    def claim_probe(
        self, now: float, *, owner: str, lease: float, webhook: str
    ) -> DeliveryJob | None:
        """Lease the webhook's oldest retryable delivery even if its retry is not due yet:
        the probe that finds out whether a failing endpoint is back. ``None``: it has none
        (or it is disabled or held)."""
        where = and_(self._claimable(now), deliveries.c.webhook == webhook)
        with self.db.write() as conn:
            jobs = self._claim(conn, where, 1, owner, now + lease)
        return jobs[0] if jobs else None

    def _claim(
        self, conn: Connection, where: Any, limit: int, owner: str, until: float
    ) -> list[DeliveryJob]:
        query = self.db.skip_locked(
            select(deliveries.c.id)
            .where(where)
            .order_by(deliveries.c.created_at, deliveries.c.id)
            .limit(limit)
        )
        ids = list(conn.execute(query).scalars())
        if not ids:
            return []
        lease_rows(conn, deliveries.c.id, ids, owner, until)
        found = conn.execute(
            select(
                deliveries.c.id,
                deliveries.c.alert_id,
                deliveries.c.webhook,
                deliveries.c.attempts,
                deliveries.c.lease_token,
                alerts.c.payload,
                alerts.c.created_at,
                items.c.published,
            )
            .join(alerts, alerts.c.id == deliveries.c.alert_id)
            .join(items, items.c.id == alerts.c.item_id)
            .where(deliveries.c.id.in_(ids))
            .order_by(deliveries.c.created_at, deliveries.c.id)
        )
        return [rows.delivery_job(row) for row in found]

    @writes
    def release_backlog(self, webhook: str, now: float) -> int:
        """The webhook's endpoint is back: its deliveries waiting out a retry delay are due
        now (they go oldest first, as claims are ordered). Dead ones stay dead. Returns a
        count."""
        with self.db.write() as conn:
            result = conn.execute(
                deliveries.update()
                .where(
                    deliveries.c.webhook == webhook,
                    deliveries.c.state == "failed",
                    deliveries.c.next_attempt_at > now,
                )
                .values(next_attempt_at=now)
            )
            return int(result.rowcount)

    @writes
    def hold_webhook(self, name: str, until: float) -> None:
        """Send nothing to this webhook before ``until`` (its consumer's Retry-After)."""
        with self.db.write() as conn:
            conn.execute(
                self.db.insert(webhook_state)
                .values(name=name, held_until=until)
                .on_conflict_do_update(index_elements=["name"], set_={"held_until": until})
            )

    @reads
    def held_deliveries(self, jobs: Sequence[DeliveryJob], now: float) -> set[int]:
        """The ids of ``jobs`` whose claim is still current (no claim or take-over since)
        and unexpired. Asked right before sending: one SELECT by primary key."""
        if not jobs:
            return set()
        with self.db.read() as conn:
            current = _tokens(
                conn, [job.delivery_id for job in jobs], deliveries.c.lease_until > now
            )
        return {job.delivery_id for job in jobs if current.get(job.delivery_id) == job.lease_token}

    @writes
    def record_deliveries(
        self, results: Sequence[DeliveryResult], *, release: Sequence[DeliveryJob] = ()
    ) -> list[int]:
        """Record attempt outcomes and give back untried claims (e.g. on shutdown, or a
        paused endpoint), in one transaction; both end the deliveries' leases. Each is
        written only under its claim's token: the ids of those refused (a stale claim)
        come back, their rows untouched.

        One commit per batch, not per delivery: on SQLite each commit is an fsync.
        """
        if not results and not release:
            return []
        fence = (
            deliveries.c.id == bindparam("b_id"),
            deliveries.c.lease_token == bindparam("b_token"),
        )
        written = 0
        with self.db.write() as conn:
            if results:
                written += conn.execute(
                    unlease(
                        deliveries,
                        *fence,
                        state=bindparam("b_state"),
                        attempts=bindparam("b_attempts"),
                        next_attempt_at=bindparam("b_next"),
                        last_error=bindparam("b_error"),
                        last_status=bindparam("b_status"),
                        delivered_at=bindparam("b_delivered"),
                    ),
                    [
                        {
                            "b_id": r.delivery_id,
                            "b_token": r.lease_token,
                            "b_state": r.state,
                            "b_attempts": r.attempts,
                            "b_next": r.next_attempt_at,
                            "b_error": r.last_error,
                            "b_status": r.last_status,
                            "b_delivered": r.delivered_at,
                        }
                        for r in results
                    ],
                ).rowcount
            if release:
                written += conn.execute(
                    unlease(deliveries, *fence),
                    [{"b_id": j.delivery_id, "b_token": j.lease_token} for j in release],
                ).rowcount
            if written == len(results) + len(release):
                return []
            claims = {r.delivery_id: r.lease_token for r in results}
            claims.update((j.delivery_id, j.lease_token) for j in release)
            return _stale(conn, claims)

    @writes
    def replay(
        self,
        now: float,
        *,
        alert_id: str | None = None,
        state: str | None = None,
        webhook: str | None = None,
        since: float | None = None,
    ) -> int:
        """Re-queue deliveries (same alert id, so consumers stay idempotent). Returns a count."""
        chosen = deliveries_where(state=state, webhook=webhook, since=since, alert_id=alert_id)
        with self.db.write() as conn:
            result = conn.execute(
                unlease(
                    deliveries,
                    # Held ones go out in their digest.
                    and_(chosen, deliveries.c.state != "held"),
                    state="pending",
                    attempts=0,
                    next_attempt_at=now,
                )
            )
            return int(result.rowcount)

    @writes
    def disable_webhook(self, name: str, reason: str, now: float) -> None:
        with self.db.write() as conn:
            conn.execute(
                self.db.insert(webhook_state)
                .values(name=name, disabled_reason=reason, disabled_at=now)
                .on_conflict_do_update(
                    index_elements=["name"], set_={"disabled_reason": reason, "disabled_at": now}
                )
            )

    @writes
    def enable_webhook(self, name: str) -> None:
        with self.db.write() as conn:
            conn.execute(webhook_state.delete().where(webhook_state.c.name == name))

    @reads
    def disabled_webhooks(self) -> dict[str, str]:
        with self.db.read() as conn:
            found = conn.execute(
                select(webhook_state).where(webhook_state.c.disabled_at.is_not(None))
            )
            return {row.name: row.disabled_reason or "" for row in found}


def _tokens(conn: Connection, ids: Sequence[int], *where: Any) -> dict[int, int]:
    """The current lease token of each of these deliveries (that match ``where``)."""
    found = conn.execute(
        select(deliveries.c.id, deliveries.c.lease_token).where(deliveries.c.id.in_(ids), *where)
    )
    return dict(found.tuples().all())


def _stale(conn: Connection, claims: dict[int, int]) -> list[int]:
    """The deliveries (of ``claims``: id -> token) whose token is not the current one. Exact
    right after the fenced writes: tokens only grow, and rows written stay locked."""
    current = _tokens(conn, list(claims))
    return sorted(i for i, token in claims.items() if current.get(i) != token)
