"""Instances sharing one store: heartbeats, the leases each holds, and taking over the dead."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from monitor.models import InstanceState
from monitor.store import rows
from monitor.store.engine import Database, reads, writes
from monitor.store.leases import take_back
from monitor.store.schema import deliveries, feeds, instances

_LEASED = (feeds, deliveries)  # the tables whose rows are leased


def _free(conn: Connection, owner: str) -> None:
    """Free every feed and delivery ``owner`` holds; what it still writes under those
    leases is refused (it may be alive after all, only stalled)."""
    for table in _LEASED:
        conn.execute(take_back(table, table.c.lease_owner == owner))


class Cluster:
    def __init__(self, db: Database) -> None:
        self.db = db

    @writes
    def heartbeat(self, owner: str, version: str, now: float) -> None:
        """Record that ``owner`` is alive."""
        with self.db.write() as conn:
            conn.execute(
                self.db.insert(instances)
                .values(id=owner, version=version, started_at=now, heartbeat_at=now)
                .on_conflict_do_update(index_elements=["id"], set_={"heartbeat_at": now})
            )

    @writes
    def take_over_stale(self, now: float, *, silent_for: float) -> list[str]:
        """Free the leases of instances whose heartbeat stopped ``silent_for`` ago, and
        forget them. A dead instance's work is due again at once, not when its (possibly
        long) delivery leases expire. Returns the instances taken over."""
        with self.db.write() as conn:
            stale = list(
                conn.execute(
                    select(instances.c.id).where(instances.c.heartbeat_at < now - silent_for)
                ).scalars()
            )
            for owner in stale:
                _free(conn, owner)
                conn.execute(instances.delete().where(instances.c.id == owner))
        return stale

    @writes
    def release_leases(self, owner: str) -> None:
        """Give back every feed and delivery this instance holds (graceful shutdown)."""
        with self.db.write() as conn:
            _free(conn, owner)

    @writes
    def leave(self, owner: str) -> None:
        """A clean stop: give back every lease and drop the instance row."""
        with self.db.write() as conn:
            _free(conn, owner)
            conn.execute(instances.delete().where(instances.c.id == owner))

    @reads
    def lease_owners(self) -> set[str]:
        """Who holds a feed or delivery lease now (for crash recovery)."""
        with self.db.read() as conn:
            owners: set[str] = set()
            for table in _LEASED:
                query = select(table.c.lease_owner).where(table.c.lease_owner.is_not(None))
                owners.update(conn.execute(query.distinct()).scalars())
            return owners

    @reads
    def instances(self, now: float) -> list[InstanceState]:
        """Known instances, each with the feeds and deliveries it holds unexpired leases on."""

        def held(table: Any) -> Any:
            return (
                select(func.count())
                .where(table.c.lease_owner == instances.c.id, table.c.lease_until >= now)
                .scalar_subquery()
            )

        with self.db.read() as conn:
            found = conn.execute(
                select(
                    instances, held(feeds).label("feeds"), held(deliveries).label("dels")
                ).order_by(instances.c.started_at)
            )
            return [rows.instance_state(row) for row in found]
