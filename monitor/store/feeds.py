"""The feeds table: the config's feeds, their schedule, and leasing the due ones."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, or_, select, update

from monitor.models import FeedSpec, FeedState
from monitor.store import rows
from monitor.store.engine import Database, reads, writes
from monitor.store.leases import lease_rows, unlease
from monitor.store.schema import feeds


class Feeds:
    def __init__(self, db: Database) -> None:
        self.db = db

    @writes
    def sync_feeds(self, specs: Sequence[FeedSpec], now: float) -> None:
        """Make the feeds table match the config: add new feeds (due now), retire removed ones."""
        wanted = {spec.url: spec for spec in specs}
        with self.db.write() as conn:
            existing = {row.url: row for row in conn.execute(select(feeds))}
            for spec in specs:
                row = existing.get(spec.url)
                if row is None:
                    conn.execute(
                        self.db.insert(feeds)
                        .values(
                            url=spec.url,
                            name=spec.name,
                            fetch_url=spec.url,
                            active=1,
                            status="new",
                            interval=spec.interval,
                            next_poll_at=now,
                            error_count=0,
                            items_seen=0,
                            redirect_count=0,
                        )
                        # Instances starting together all add the same new feeds.
                        .on_conflict_do_nothing(index_elements=["url"])
                    )
                    continue
                values: dict[str, Any] = {"name": spec.name, "active": 1}
                if spec.interval != row.interval:
                    # A new configured interval restarts adaptation from it, and a shorter
                    # one takes effect now. An unchanged one keeps the stored schedule: a
                    # restart must not forget a backoff or re-poll everything at once.
                    values["interval"] = spec.interval
                    values["current_interval"] = None
                    values["next_poll_at"] = min(row.next_poll_at, now + spec.interval)
                if values != {"name": row.name, "active": row.active}:
                    conn.execute(update(feeds).where(feeds.c.url == spec.url).values(**values))
            gone = [url for url in existing if url not in wanted]
            if gone:
                conn.execute(update(feeds).where(feeds.c.url.in_(gone)).values(active=0))

    @writes
    def enable_feed(self, url: str, now: float) -> bool:
        """Poll a feed again now, with a clean error count (after a 410, or a long backoff).
        False when the feed is not in the store yet."""
        with self.db.write() as conn:
            result = conn.execute(
                update(feeds)
                .where(feeds.c.url == url)
                .values(status="new", error_count=0, next_poll_at=now, current_interval=None)
            )
            return bool(result.rowcount)

    @writes
    def claim_due_feeds(
        self, now: float, *, owner: str, lease: float, limit: int = 100, urls: Iterable[str] = ()
    ) -> list[FeedState]:
        """Lease feeds that are due (or the given ones, due or not) so no one else polls them."""
        wanted = list(urls)
        query = select(feeds.c.url).where(
            feeds.c.active == 1,
            feeds.c.status != "disabled",
            or_(feeds.c.lease_until.is_(None), feeds.c.lease_until < now),
        )
        if wanted:
            query = query.where(feeds.c.url.in_(wanted))
        else:
            query = query.where(feeds.c.next_poll_at <= now)
        query = self.db.skip_locked(query.order_by(feeds.c.next_poll_at).limit(limit))
        with self.db.write() as conn:
            claimed = [row.url for row in conn.execute(query)]
            if not claimed:
                return []
            lease_rows(conn, feeds.c.url, claimed, owner, now + lease)
            found = conn.execute(select(feeds).where(feeds.c.url.in_(claimed)))
            states = [rows.feed_state(row) for row in found]
        return sorted(states, key=lambda s: s.next_poll_at)

    @writes
    def release_feeds(self, urls: Iterable[str], *, owner: str) -> None:
        """Give back ``owner``'s leases on these feeds unchanged (their polls could not be
        recorded): they are claimable again now, not when the lease ends."""
        with self.db.write() as conn:
            conn.execute(unlease(feeds, feeds.c.url.in_(list(urls)), feeds.c.lease_owner == owner))

    @reads
    def feed_states(self) -> list[FeedState]:
        with self.db.read() as conn:
            found = conn.execute(select(feeds).order_by(feeds.c.active.desc(), feeds.c.name))
            return [rows.feed_state(row) for row in found]

    @reads
    def feed_status_counts(self) -> dict[str, int]:
        """Active feeds by status: one GROUP BY, not every row (the metrics gauge)."""
        with self.db.read() as conn:
            found = conn.execute(
                select(feeds.c.status, func.count())
                .where(feeds.c.active == 1)
                .group_by(feeds.c.status)
            )
            return {status: int(count) for status, count in found}

    @reads
    def next_feed_due(self) -> float | None:
        with self.db.read() as conn:
            value = conn.execute(
                select(func.min(feeds.c.next_poll_at)).where(
                    feeds.c.active == 1, feeds.c.status != "disabled"
                )
            ).scalar()
        return float(value) if value is not None else None
