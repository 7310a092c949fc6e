"""Writing polls: a feed's new state, its new items, their alerts and the alerts' deliveries.

``record_polls`` writes each poll in ONE transaction: an item is never seen without its
alerts, nor alerted twice. Uniqueness is the constraints' (insert-on-conflict), not memory:
one item per (feed, key), one alert per (rule, story), one delivery per (alert, webhook).

A poll is written only under the claim it was made under (its ``lease_token``, see
``leases``): once the feed was taken over or claimed again, the poll writes nothing at all
and comes back ``refused``, so a feed's poll is never committed twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select, update

from monitor.models import Item, NewAlert, PollCommit, PollRecord
from monitor.store import rows
from monitor.store.digests import Digests
from monitor.store.engine import Database, reads, writes
from monitor.store.leases import unlease
from monitor.store.schema import alerts, deliveries, feeds, items

# Item keys per SELECT of ``unseen``: far below every backend's bound-parameter limit.
_KEYS_PER_QUERY = 500


class Polls:
    def __init__(self, db: Database, digests: Digests) -> None:
        self.db = db
        self.digests = digests  # routes the new alerts' deliveries

    @reads
    def unseen(self, feed_url: str, item_list: Sequence[Item]) -> list[Item]:
        """The items of this feed not recorded yet (a cheap pre-check; record_polls decides)."""
        if not item_list:
            return []
        keys = [item.key for item in item_list]
        seen: set[str] = set()
        with self.db.read() as conn:
            for start in range(0, len(keys), _KEYS_PER_QUERY):
                chunk = keys[start : start + _KEYS_PER_QUERY]
                seen.update(
                    conn.execute(
                        select(items.c.item_key).where(
                            items.c.feed_url == feed_url, items.c.item_key.in_(chunk)
                        )
                    ).scalars()
                )
        return [item for item in item_list if item.key not in seen]

    @writes
    def record_polls(self, polls: Sequence[PollRecord]) -> list[PollCommit]:
        """Several polls in ONE transaction, each written whole: its feed state, its items
        as seen, their alerts, the alerts' deliveries; or, its claim stale, nothing of it
        (``PollCommit.refused``).

        Group commit: on SQLite every commit is an fsync, and polls finishing together can
        share one. A transaction never holds part of a poll, so the invariant is unchanged.
        """
        # Rows locked in one order (by feed) by every writer: no deadlock between them.
        order = sorted(range(len(polls)), key=lambda i: polls[i].feed_url)
        commits: dict[int, PollCommit] = {}
        with self.db.write() as conn:
            for i in order:
                commits[i] = self._write_poll(conn, polls[i])
        return [commits[i] for i in range(len(polls))]

    def _write_poll(self, conn: Connection, poll: PollRecord) -> PollCommit:
        # The feed row first: the fence, and its lock held till commit (PostgreSQL), so the
        # claim stays current while the rest of the poll is written.
        if not _update_feed(conn, poll):
            return PollCommit(0, (), 0, refused=True)
        # Multi-row statements: one INSERT per table, not one per item (~0.4 ms each).
        item_ids = self._insert_items(conn, poll.new_items, poll.now)
        planned = [
            (alert, item_ids[alert.item.key])
            for alert in poll.new_alerts
            if alert.item.key in item_ids  # an item recorded by someone else: not our alerts
        ]
        created = self._insert_alerts(conn, planned)
        alert_ids = [alert.id for alert, _ in planned if alert.id in created]
        new_alerts = [alert for alert, _ in planned if alert.id in created]
        delivery_rows = self.digests.delivery_rows(conn, new_alerts)
        if delivery_rows:
            conn.execute(deliveries.insert(), delivery_rows)
        sent = sum(row["state"] == "pending" for row in delivery_rows)
        if item_ids:
            conn.execute(
                update(feeds)
                .where(feeds.c.url == poll.feed_url)
                .values(items_seen=feeds.c.items_seen + len(item_ids))
            )
        return PollCommit(len(item_ids), tuple(alert_ids), sent)

    def _insert_items(self, conn: Connection, new: Sequence[Item], now: float) -> dict[str, int]:
        """Insert the items not stored yet; their keys and new row ids."""
        if not new:
            return {}
        # executemany + RETURNING: SQLAlchemy's "insertmanyvalues" sends multi-row INSERTs
        # from ONE cached compiled statement (a .values(rows) statement is compiled anew
        # each time, its bind parameters counted in hundreds).
        result = conn.execute(
            self.db.insert(items)
            .on_conflict_do_nothing(index_elements=["feed_url", "item_key"])
            .returning(items.c.id, items.c.item_key),
            [rows.item_row(item, now) for item in new],
        )
        return {key: item_id for item_id, key in result}

    def _insert_alerts(self, conn: Connection, planned: Sequence[tuple[NewAlert, int]]) -> set[str]:
        """Insert alerts, one per (rule, story): the ids of those actually created."""
        if not planned:
            return set()
        result = conn.execute(
            self.db.insert(alerts)
            .on_conflict_do_nothing(index_elements=["rule", "story_key"])
            .returning(alerts.c.id),
            [rows.alert_row(alert, item_id) for alert, item_id in planned],
        )
        return set(result.scalars())


def _update_feed(conn: Connection, poll: PollRecord) -> bool:
    """The poll's feed state, and its lease released: the feed is claimable once due.
    False, and nothing written: the poll's claim is not the feed's current one."""
    update_ = poll.update
    values: dict[str, Any] = {
        "status": update_.status,
        "last_polled_at": update_.polled_at,
        "next_poll_at": update_.next_poll_at,
        "current_interval": update_.interval,
        "item_rate": update_.item_rate,
        "possible_gaps": feeds.c.possible_gaps + int(update_.possible_gap),
        "error_count": update_.error_count,
        "last_error": update_.last_error,
        "last_error_kind": update_.last_error_kind,
        "redirect_target": update_.redirect_target,
        "redirect_count": update_.redirect_count,
    }
    if update_.success:
        values["last_success_at"] = update_.polled_at
        values["etag"] = update_.etag
        values["last_modified"] = update_.last_modified
        values["body_digest"] = update_.body_digest
        values["ttl"] = update_.ttl
    if update_.fetch_url:
        values["fetch_url"] = update_.fetch_url
    fenced = unlease(
        feeds, feeds.c.url == poll.feed_url, feeds.c.lease_token == poll.lease_token, **values
    )
    return bool(conn.execute(fenced).rowcount)
