"""The state store: every piece of durable state behind one small interface.

SQLAlchemy Core, one code path for SQLite (the embedded default, WAL) and PostgreSQL. The
invariants live here:

* ``record_poll`` writes a poll's feed state, its new items and their alerts and deliveries
  in ONE transaction: an item is never seen without its alerts, nor alerted twice.
* Uniqueness is enforced by constraints with insert-on-conflict, not in memory: one item per
  (feed, key), one alert per (rule, story), one delivery per (alert, webhook).
* Work is claimed with a lease (``claim_due_feeds``, ``claim_due_deliveries``), so a tick
  never picks up what is still in flight, and several instances can share one database.
"""

from __future__ import annotations

import contextlib
import functools
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    Select,
    and_,
    bindparam,
    create_engine,
    event,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from monitor.core import routing as digest
from monitor.documents.payload import DIGEST_LIMIT, digest_entry, digest_payload
from monitor.errors import StoreError
from monitor.models import (
    DeliveryJob,
    DeliveryRecord,
    DeliveryResult,
    DeliveryState,
    FeedSpec,
    FeedState,
    FeedUpdate,
    InstanceState,
    Item,
    NewAlert,
    PollCommit,
    PollRecord,
)
from monitor.store import schema
from monitor.store.schema import (
    alerts,
    deliveries,
    digests,
    feeds,
    instances,
    items,
    throttle_windows,
    webhook_state,
)

_RETRYABLE = ("pending", "failed")


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" below decide transactions, not pysqlite's guesswork.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")  # a committed alert survives a crash
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: Connection) -> None:
        # A write takes the write lock up front: no deadlock upgrading a read to a write.
        # A read (engine.connect) must not take it: in WAL, reads never wait for writers.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if _write_intent.active else "BEGIN")


class _WriteIntent(threading.local):
    active = False


# Set while this thread opens a write transaction (``Store._begin``, migrations).
_write_intent = _WriteIntent()


_P = ParamSpec("_P")
_R = TypeVar("_R")
# PostgreSQL deadlock / serialization failure, SQLite busy: the transaction was rolled back
# whole, so running it again is safe.
_TRANSIENT_SQLSTATES = {"40P01", "40001"}
_ATTEMPTS = 4


def _is_transient(exc: OperationalError) -> bool:
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return sqlstate in _TRANSIENT_SQLSTATES or "database is locked" in str(exc.orig)


def _retried(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run a write transaction again when the database aborted it to break a deadlock."""

    @functools.wraps(method)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                return method(*args, **kwargs)
            except OperationalError as exc:
                if attempt == _ATTEMPTS or not _is_transient(exc):
                    raise
                time.sleep(0.02 * attempt)
        raise AssertionError("unreachable")

    return run


@contextlib.contextmanager
def _writing(engine: Engine) -> Iterator[Connection]:
    _write_intent.active = True
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        _write_intent.active = False


def _lease(conn: Connection, key: Any, keys: Sequence[Any], owner: str, until: float) -> None:
    """Mark rows (already locked by the claiming SELECT) as ``owner``'s until ``until``."""
    conn.execute(
        update(key.table).where(key.in_(list(keys))).values(lease_owner=owner, lease_until=until)
    )


def _feed_state(row: Any) -> FeedState:
    return FeedState(
        url=row.url,
        name=row.name,
        fetch_url=row.fetch_url,
        active=bool(row.active),
        status=row.status,
        etag=row.etag,
        last_modified=row.last_modified,
        interval=row.interval,
        next_poll_at=row.next_poll_at,
        last_polled_at=row.last_polled_at,
        last_success_at=row.last_success_at,
        last_error=row.last_error,
        last_error_kind=row.last_error_kind,
        error_count=row.error_count,
        items_seen=row.items_seen,
        redirect_target=row.redirect_target,
        redirect_count=row.redirect_count,
        current_interval=row.current_interval or row.interval,
        item_rate=row.item_rate,
        possible_gaps=row.possible_gaps,
        body_digest=row.body_digest,
        ttl=row.ttl,
    )


def _item_row(item: Item, now: float) -> dict[str, Any]:
    return {
        "feed_url": item.feed_url,
        "item_key": item.key,
        "story_key": item.story_key,
        "title": item.title,
        "link": item.link,
        "summary": item.summary,
        "content": item.content,
        "published": item.published.timestamp() if item.published else None,
        "authors": json.dumps(list(item.authors)),
        "categories": json.dumps(list(item.categories)),
        "lang": item.lang,
        "feed_name": item.feed,
        "first_seen_at": now,
    }


def _item_from_row(row: Any) -> Item:
    from datetime import UTC, datetime

    return Item(
        key=row.item_key,
        story_key=row.story_key,
        feed=row.feed_name,
        feed_url=row.feed_url,
        title=row.title,
        link=row.link,
        summary=row.summary,
        content=row.content,
        published=datetime.fromtimestamp(row.published, UTC) if row.published else None,
        authors=tuple(json.loads(row.authors)),
        categories=tuple(json.loads(row.categories)),
        lang=row.lang,
    )


class Store:
    """All durable state. Thread-safe: each call runs in its own connection and transaction."""

    def __init__(self, url: str) -> None:
        self.url = url
        for plain in ("postgresql://", "postgres://"):
            if url.startswith(plain):  # psycopg 3 is the driver we ship, not psycopg2
                url = "postgresql+psycopg://" + url.removeprefix(plain)
        try:
            self.engine = create_engine(url, future=True)
        except (SQLAlchemyError, ValueError, ImportError) as exc:
            raise StoreError(f"state {url!r}: {exc}") from None
        self.dialect = self.engine.dialect.name
        # SQLite has one writer at a time and its busy handler polls rather than queues: with
        # dozens of polls committing at once, a thread can lose every race for longer than
        # busy_timeout. This process's writers queue on a lock instead.
        self._writer: contextlib.AbstractContextManager[Any] = (
            threading.RLock() if self.dialect == "sqlite" else contextlib.nullcontext()
        )
        if self.dialect == "sqlite":
            _sqlite_pragmas(self.engine)
        elif self.dialect != "postgresql":
            raise StoreError(f"state {url!r}: only sqlite:// and postgresql:// are supported")
        self.queries = 0  # statements sent, for /status and capacity planning
        # Throttles and digests (``set_routing``); empty: every alert goes out individually.
        self.routing = digest.Routing()
        event.listen(self.engine, "before_cursor_execute", self._count_query)
        self._migrate()

    def _count_query(self, *_args: Any) -> None:
        self.queries += 1

    def close(self) -> None:
        self.engine.dispose()

    def set_routing(self, routing: digest.Routing) -> None:
        """The config's rule throttles and webhook digests, for the polls written from now."""
        self.routing = routing

    # -- plumbing ------------------------------------------------------------------------

    def _insert(self, table: Any) -> Any:
        """The dialect's INSERT, which knows ON CONFLICT (both spell it the same way)."""
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    def _skip_locked(self, query: Select[Any]) -> Select[Any]:
        if self.dialect == "postgresql":
            return query.with_for_update(skip_locked=True)
        return query  # SQLite: BEGIN IMMEDIATE already serializes writers

    @contextlib.contextmanager
    def _begin(self) -> Iterator[Connection]:
        with self._writer, _writing(self.engine) as conn:
            yield conn

    def _migrate(self) -> None:
        try:
            with _writing(self.engine) as conn:
                if self.dialect == "postgresql":
                    # Several instances starting together: one migrates, the others wait.
                    conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7146032201)")
                schema.schema_version.create(conn, checkfirst=True)
                current = conn.execute(select(func.max(schema.schema_version.c.version))).scalar()
                version = int(current or 0)
                for step in schema.MIGRATIONS[version:]:
                    step(conn)
                    version += 1
                    conn.execute(schema.schema_version.delete())
                    conn.execute(schema.schema_version.insert().values(version=version))
        except SQLAlchemyError as exc:
            raise StoreError(
                f"state {self.url!r}: cannot open: {exc.__class__.__name__}: {exc}"
            ) from None

    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(select(func.max(schema.schema_version.c.version))).scalar() or 0
            )

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(select(1))
        except SQLAlchemyError:
            return False
        return True

    # -- feeds ---------------------------------------------------------------------------

    @_retried
    def sync_feeds(self, specs: Sequence[FeedSpec], now: float) -> None:
        """Make the feeds table match the config: add new feeds (due now), retire removed ones."""
        wanted = {spec.url: spec for spec in specs}
        with self._begin() as conn:
            existing = {row.url: row for row in conn.execute(select(feeds))}
            for spec in specs:
                row = existing.get(spec.url)
                if row is None:
                    conn.execute(
                        self._insert(feeds)
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

    @_retried
    def enable_feed(self, url: str, now: float) -> bool:
        """Poll a feed again now, with a clean error count (after a 410, or a long backoff).
        False when the feed is not in the store yet."""
        with self._begin() as conn:
            result = conn.execute(
                update(feeds)
                .where(feeds.c.url == url)
                .values(status="new", error_count=0, next_poll_at=now, current_interval=None)
            )
            return bool(result.rowcount)

    @_retried
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
        query = self._skip_locked(query.order_by(feeds.c.next_poll_at).limit(limit))
        with self._begin() as conn:
            claimed = [row.url for row in conn.execute(query)]
            if not claimed:
                return []
            _lease(conn, feeds.c.url, claimed, owner, now + lease)
            rows = conn.execute(select(feeds).where(feeds.c.url.in_(claimed)))
            states = [_feed_state(row) for row in rows]
        return sorted(states, key=lambda s: s.next_poll_at)

    def feed_states(self) -> list[FeedState]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(feeds).order_by(feeds.c.active.desc(), feeds.c.name))
            return [_feed_state(row) for row in rows]

    def next_feed_due(self) -> float | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(func.min(feeds.c.next_poll_at)).where(
                    feeds.c.active == 1, feeds.c.status != "disabled"
                )
            ).scalar()
        return float(value) if value is not None else None

    # -- items and alerts ------------------------------------------------------------------

    def unseen(self, feed_url: str, item_list: Sequence[Item]) -> list[Item]:
        """The items of this feed not recorded yet (a cheap pre-check; record_poll decides)."""
        if not item_list:
            return []
        keys = [item.key for item in item_list]
        seen: set[str] = set()
        with self.engine.connect() as conn:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                seen.update(
                    conn.execute(
                        select(items.c.item_key).where(
                            items.c.feed_url == feed_url, items.c.item_key.in_(chunk)
                        )
                    ).scalars()
                )
        return [item for item in item_list if item.key not in seen]

    def record_poll(
        self,
        feed_url: str,
        update_: FeedUpdate,
        new_items: Sequence[Item],
        new_alerts: Sequence[NewAlert],
        now: float,
    ) -> PollCommit:
        """One transaction: feed state, items as seen, their alerts, the alerts' deliveries."""
        return self.record_polls([PollRecord(feed_url, update_, new_items, new_alerts, now)])[0]

    @_retried
    def record_polls(self, polls: Sequence[PollRecord]) -> list[PollCommit]:
        """Several polls in ONE transaction, each written whole as ``record_poll`` writes it.

        Group commit: on SQLite every commit is an fsync, and polls finishing together can
        share one. A transaction never holds part of a poll, so the invariant is unchanged.
        """
        # Rows locked in one order (by feed) by every writer: no deadlock between them.
        order = sorted(range(len(polls)), key=lambda i: polls[i].feed_url)
        commits: dict[int, PollCommit] = {}
        with self._begin() as conn:
            for i in order:
                commits[i] = self._write_poll(conn, polls[i])
        return [commits[i] for i in range(len(polls))]

    def _write_poll(self, conn: Connection, poll: PollRecord) -> PollCommit:
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
        delivery_rows = self._delivery_rows(conn, new_alerts)
        if delivery_rows:
            conn.execute(deliveries.insert(), delivery_rows)
        sent = sum(row["state"] == "pending" for row in delivery_rows)
        self._update_feed(conn, poll.feed_url, poll.update, len(item_ids))
        return PollCommit(len(item_ids), tuple(alert_ids), sent)

    def _delivery_rows(self, conn: Connection, new: Sequence[NewAlert]) -> list[dict[str, Any]]:
        """The new alerts' deliveries: ``pending``, or ``held`` in a digest (throttle, or a
        digest webhook). Counts and digests are rows updated in this transaction, so
        instances sharing the store decide together (``monitor.core.routing``)."""
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
        throttled: set[str] = set()
        windows: dict[tuple[str, float], list[NewAlert]] = {}
        for alert in new:
            throttle = routing.throttles.get(alert.rule)
            if throttle is not None:
                start, _ = digest.window(alert.created_at, throttle.per)
                windows.setdefault((alert.rule, start), []).append(alert)
        for (rule, start), group in sorted(windows.items()):  # one lock order for all writers
            insert = self._insert(throttle_windows).values(
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
        sealed: set[str] = set()
        for slot_id, (slot, count) in sorted(slots.items()):
            insert = self._insert(digests).values(
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
            if joined is None:  # sealed already (a late poll): send individually
                sealed.add(slot_id)
        rows = []
        for alert, individual, held in plans:
            rows += [row(alert, hook, None) for hook in individual]
            rows += [row(alert, s.webhook, None if s.id in sealed else s) for s in held]
        return rows

    def _insert_items(self, conn: Connection, new: Sequence[Item], now: float) -> dict[str, int]:
        """Insert the items not stored yet; their keys and new row ids."""
        if not new:
            return {}
        # executemany + RETURNING: SQLAlchemy's "insertmanyvalues" sends multi-row INSERTs
        # from ONE cached compiled statement (a .values(rows) statement is compiled anew
        # each time, its bind parameters counted in hundreds).
        result = conn.execute(
            self._insert(items)
            .on_conflict_do_nothing(index_elements=["feed_url", "item_key"])
            .returning(items.c.id, items.c.item_key),
            [_item_row(item, now) for item in new],
        )
        return {key: item_id for item_id, key in result}

    def _insert_alerts(self, conn: Connection, planned: Sequence[tuple[NewAlert, int]]) -> set[str]:
        """Insert alerts, one per (rule, story): the ids of those actually created."""
        created: set[str] = set()
        rows = [
            {
                "id": alert.id,
                "rule": alert.rule,
                "story_key": alert.item.story_key,
                "item_id": item_id,
                "payload": json.dumps(alert.payload, ensure_ascii=False),
                "created_at": alert.created_at,
            }
            for alert, item_id in planned
        ]
        if rows:
            result = conn.execute(
                self._insert(alerts)
                .on_conflict_do_nothing(index_elements=["rule", "story_key"])
                .returning(alerts.c.id),
                rows,
            )
            created.update(result.scalars())
        return created

    def _update_feed(
        self, conn: Connection, feed_url: str, update_: FeedUpdate, inserted_items: int
    ) -> None:
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
            "items_seen": feeds.c.items_seen + inserted_items,
            "lease_owner": None,
            "lease_until": None,
        }
        if update_.success:
            values["last_success_at"] = update_.polled_at
            values["etag"] = update_.etag
            values["last_modified"] = update_.last_modified
            values["body_digest"] = update_.body_digest
            values["ttl"] = update_.ttl
        if update_.fetch_url:
            values["fetch_url"] = update_.fetch_url
        conn.execute(update(feeds).where(feeds.c.url == feed_url).values(**values))

    @_retried
    def prune(self, *, content_before: float, keys_before: float) -> tuple[int, int]:
        """Drop item text older than ``content_before``; forget items, their alerts and
        deliveries older than ``keys_before`` (never one still waiting to be delivered).
        Returns (items emptied, items forgotten)."""
        unfinished = select(deliveries.c.alert_id).where(
            deliveries.c.state.in_((*_RETRYABLE, "held"))
        )
        with self._begin() as conn:
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

    def items_since(self, since: float, limit: int = 10000) -> list[Item]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(items)
                .where(items.c.first_seen_at >= since)
                .order_by(items.c.first_seen_at)
                .limit(limit)
            )
            return [_item_from_row(row) for row in rows]

    # -- deliveries ------------------------------------------------------------------------

    def _due_deliveries(self, now: float) -> Any:
        """Deliveries that may be tried now: retryable, due, not leased, webhook not disabled."""
        disabled = select(webhook_state.c.name).where(webhook_state.c.disabled_at.is_not(None))
        return and_(
            deliveries.c.state.in_(_RETRYABLE),
            deliveries.c.next_attempt_at <= now,
            or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until < now),
            deliveries.c.webhook.not_in(disabled),
        )

    def due_webhooks(self, now: float) -> set[str]:
        """Webhooks with a delivery to try now (a read: idle rounds take no write lock)."""
        with self.engine.connect() as conn:
            query = select(deliveries.c.webhook).where(self._due_deliveries(now)).distinct()
            return set(conn.execute(query).scalars())

    @_retried
    def claim_due_deliveries(
        self,
        now: float,
        *,
        owner: str,
        lease: float,
        limit: int = 200,
        webhooks: Sequence[str] = (),
    ) -> list[DeliveryJob]:
        """Lease due deliveries to these webhooks, oldest alert first, skipping disabled ones."""
        query = self._skip_locked(
            select(deliveries.c.id)
            .where(self._due_deliveries(now), deliveries.c.webhook.in_(list(webhooks)))
            .order_by(deliveries.c.created_at, deliveries.c.id)
            .limit(limit)
        )
        with self._begin() as conn:
            ids = list(conn.execute(query).scalars())
            if not ids:
                return []
            _lease(conn, deliveries.c.id, ids, owner, now + lease)
            rows = conn.execute(
                select(
                    deliveries.c.id,
                    deliveries.c.alert_id,
                    deliveries.c.webhook,
                    deliveries.c.attempts,
                    alerts.c.payload,
                    alerts.c.created_at,
                    items.c.published,
                )
                .join(alerts, alerts.c.id == deliveries.c.alert_id)
                .join(items, items.c.id == alerts.c.item_id)
                .where(deliveries.c.id.in_(ids))
                .order_by(deliveries.c.created_at, deliveries.c.id)
            )
            return [
                DeliveryJob(
                    delivery_id=row.id,
                    alert_id=row.alert_id,
                    webhook=row.webhook,
                    attempts=row.attempts,
                    payload=json.loads(row.payload),
                    alert_created_at=row.created_at,
                    published=row.published,
                )
                for row in rows
            ]

    def record_delivery(
        self,
        delivery_id: int,
        *,
        state: DeliveryState,
        attempts: int,
        next_attempt_at: float | None,
        last_error: str | None,
        last_status: int | None,
        delivered_at: float | None = None,
    ) -> None:
        self.record_deliveries(
            [
                DeliveryResult(
                    delivery_id,
                    state,
                    attempts,
                    next_attempt_at,
                    last_error,
                    last_status,
                    delivered_at,
                )
            ]
        )

    @_retried
    def record_deliveries(
        self, results: Sequence[DeliveryResult], *, release: Sequence[int] = ()
    ) -> None:
        """Record attempt outcomes and give back untried deliveries, in one transaction.

        One commit per batch, not per delivery: on SQLite each commit is an fsync.
        """
        if not results and not release:
            return
        with self._begin() as conn:
            if results:
                conn.execute(
                    update(deliveries)
                    .where(deliveries.c.id == bindparam("b_id"))
                    .values(
                        state=bindparam("b_state"),
                        attempts=bindparam("b_attempts"),
                        next_attempt_at=bindparam("b_next"),
                        last_error=bindparam("b_error"),
                        last_status=bindparam("b_status"),
                        delivered_at=bindparam("b_delivered"),
                        lease_owner=None,
                        lease_until=None,
                    ),
                    [
                        {
                            "b_id": r.delivery_id,
                            "b_state": r.state,
                            "b_attempts": r.attempts,
                            "b_next": r.next_attempt_at,
                            "b_error": r.last_error,
                            "b_status": r.last_status,
                            "b_delivered": r.delivered_at,
                        }
                        for r in results
                    ],
                )
            if release:
                conn.execute(
                    update(deliveries)
                    .where(deliveries.c.id.in_(list(release)))
                    .values(lease_owner=None, lease_until=None)
                )

    @_retried
    def release_deliveries(self, delivery_ids: Sequence[int]) -> None:
        """Give back leased deliveries untouched (e.g. on shutdown, or a paused endpoint)."""
        if not delivery_ids:
            return
        with self._begin() as conn:
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id.in_(list(delivery_ids)))
                .values(lease_owner=None, lease_until=None)
            )

    # -- digests ---------------------------------------------------------------------------

    def digests_due(self, now: float) -> bool:
        """Whether a digest window has ended unsealed (a read: idle sweeps take no lock)."""
        with self.engine.connect() as conn:
            query = select(digests.c.id).where(
                digests.c.sealed_at.is_(None), digests.c.window_end <= now
            )
            return conn.execute(query.limit(1)).first() is not None

    @_retried
    def seal_due_digests(self, now: float) -> list[str]:
        """Seal every digest whose window has ended: ONE transaction makes each an alert with
        its content fixed and one pending delivery, and marks its held deliveries
        ``digested``. Idempotent and safe beside other instances (a digest being written to
        is skipped until the next call). Returns the ids of the digests sealed."""
        if not self.digests_due(now):
            return []
        query = self._skip_locked(
            select(digests)
            .where(digests.c.sealed_at.is_(None), digests.c.window_end <= now)
            .order_by(digests.c.id)
        )
        with self._begin() as conn:
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
                rows = conn.execute(members.limit(DIGEST_LIMIT)).all()
                conn.execute(
                    update(digests)
                    .where(digests.c.id == slot.id)
                    .values(sealed_at=now, held=int(count))
                )
                if not rows:  # nothing held (e.g. replayed away): nothing to send
                    continue
                payload = digest_payload(
                    digest_id=slot.id,
                    kind=slot.kind,
                    window_start=slot.window_start,
                    window_end=slot.window_end,
                    created_at=now,
                    count=int(count),
                    entries=[
                        digest_entry(r.id, r.rule, r.created_at, json.loads(r.payload))
                        for r in rows
                    ],
                )
                created = conn.execute(
                    self._insert(alerts)
                    .values(
                        id=slot.id,
                        rule=payload["data"]["rule"] or f"digest:{slot.kind}",
                        story_key=slot.id,
                        item_id=rows[0].item_id,  # the oldest listed item (not null)
                        payload=json.dumps(payload, ensure_ascii=False),
                        created_at=now,
                    )
                    .on_conflict_do_nothing()
                    .returning(alerts.c.id)
                ).first()
                if created is not None:
                    conn.execute(
                        self._insert(deliveries)
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

    def lease_owners(self) -> set[str]:
        """Who holds a feed or delivery lease now (for crash recovery)."""
        with self.engine.connect() as conn:
            owners: set[str] = set()
            for table in (feeds, deliveries):
                query = select(table.c.lease_owner).where(table.c.lease_owner.is_not(None))
                owners.update(conn.execute(query.distinct()).scalars())
            return owners

    @_retried
    def heartbeat(self, owner: str, version: str, now: float) -> None:
        """Record that ``owner`` is alive."""
        with self._begin() as conn:
            conn.execute(
                self._insert(instances)
                .values(id=owner, version=version, started_at=now, heartbeat_at=now)
                .on_conflict_do_update(index_elements=["id"], set_={"heartbeat_at": now})
            )

    @_retried
    def take_over_stale(self, now: float, *, silent_for: float) -> list[str]:
        """Free the leases of instances whose heartbeat stopped ``silent_for`` ago, and
        forget them. A dead instance's work is due again at once, not when its (possibly
        long) delivery leases expire. Returns the instances taken over."""
        with self._begin() as conn:
            stale = list(
                conn.execute(
                    select(instances.c.id).where(instances.c.heartbeat_at < now - silent_for)
                ).scalars()
            )
            for owner in stale:
                for table in (feeds, deliveries):
                    conn.execute(
                        update(table)
                        .where(table.c.lease_owner == owner)
                        .values(lease_owner=None, lease_until=None)
                    )
                conn.execute(instances.delete().where(instances.c.id == owner))
        return stale

    def instances(self, now: float) -> list[InstanceState]:
        """Known instances, each with the feeds and deliveries it holds unexpired leases on."""

        def held(table: Any) -> Any:
            return (
                select(func.count())
                .where(table.c.lease_owner == instances.c.id, table.c.lease_until >= now)
                .scalar_subquery()
            )

        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    instances, held(feeds).label("feeds"), held(deliveries).label("dels")
                ).order_by(instances.c.started_at)
            )
            return [
                InstanceState(r.id, r.version, r.started_at, r.heartbeat_at, r.feeds, r.dels)
                for r in rows
            ]

    @_retried
    def leave(self, owner: str) -> None:
        """A clean stop: give back every lease and drop the instance row."""
        self.release_leases(owner)
        with self._begin() as conn:
            conn.execute(instances.delete().where(instances.c.id == owner))

    @_retried
    def release_leases(self, owner: str) -> None:
        """Give back every feed and delivery this instance holds (graceful shutdown)."""
        with self._begin() as conn:
            for table in (feeds, deliveries):
                conn.execute(
                    update(table)
                    .where(table.c.lease_owner == owner)
                    .values(lease_owner=None, lease_until=None)
                )

    @_retried
    def disable_webhook(self, name: str, reason: str, now: float) -> None:
        with self._begin() as conn:
            conn.execute(
                self._insert(webhook_state)
                .values(name=name, disabled_reason=reason, disabled_at=now)
                .on_conflict_do_update(
                    index_elements=["name"], set_={"disabled_reason": reason, "disabled_at": now}
                )
            )

    @_retried
    def enable_webhook(self, name: str) -> None:
        with self._begin() as conn:
            conn.execute(webhook_state.delete().where(webhook_state.c.name == name))

    def disabled_webhooks(self) -> dict[str, str]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(webhook_state).where(webhook_state.c.disabled_at.is_not(None))
            )
            return {row.name: row.disabled_reason or "" for row in rows}

    def delivery_counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(deliveries.c.state, func.count()).group_by(deliveries.c.state)
            )
            return {state: int(count) for state, count in rows}

    def next_delivery_due(self) -> float | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(func.min(deliveries.c.next_attempt_at)).where(
                    deliveries.c.state.in_(_RETRYABLE)
                )
            ).scalar()
        return float(value) if value is not None else None

    def list_deliveries(
        self,
        *,
        limit: int = 50,
        state: str | None = None,
        webhook: str | None = None,
        since: float | None = None,
        alert_id: str | None = None,
    ) -> list[DeliveryRecord]:
        conditions = []
        if state:
            conditions.append(deliveries.c.state == state)
        if webhook:
            conditions.append(deliveries.c.webhook == webhook)
        if since is not None:
            conditions.append(deliveries.c.created_at >= since)
        if alert_id:
            conditions.append(deliveries.c.alert_id == alert_id)
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
            .where(and_(true(), *conditions))
            .order_by(deliveries.c.created_at.desc(), deliveries.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [
                DeliveryRecord(
                    delivery_id=row.id,
                    alert_id=row.alert_id,
                    rule=row.rule,
                    webhook=row.webhook,
                    state=row.state,
                    attempts=row.attempts,
                    last_error=row.last_error,
                    last_status=row.last_status,
                    created_at=row.created_at,
                    next_attempt_at=row.next_attempt_at,
                    delivered_at=row.delivered_at,
                    title=row.title
                    if row.digest_kind is None
                    else f"digest ({row.digest_kind}) of {row.digest_held} alerts",
                    link=row.link if row.digest_kind is None else "",
                )
                for row in conn.execute(query)
            ]

    def alert_payload(self, alert_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            raw = conn.execute(select(alerts.c.payload).where(alerts.c.id == alert_id)).scalar()
        return json.loads(raw) if raw is not None else None

    @_retried
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
        conditions = []
        if alert_id:
            conditions.append(deliveries.c.alert_id == alert_id)
        if state:
            conditions.append(deliveries.c.state == state)
        if webhook:
            conditions.append(deliveries.c.webhook == webhook)
        if since is not None:
            conditions.append(deliveries.c.created_at >= since)
        conditions.append(deliveries.c.state != "held")  # held ones go out in their digest
        with self._begin() as conn:
            result = conn.execute(
                update(deliveries)
                .where(and_(true(), *conditions))
                .values(
                    state="pending",
                    attempts=0,
                    next_attempt_at=now,
                    lease_owner=None,
                    lease_until=None,
                )
            )
            return int(result.rowcount)
