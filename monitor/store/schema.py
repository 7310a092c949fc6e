"""Tables and migrations. Times are UNIX seconds (REAL): one type on SQLite and PostgreSQL.

``MIGRATIONS[i]`` upgrades schema version ``i`` to ``i + 1``; the store records its version in
``schema_version`` and applies what is missing at start-up, in one transaction each.
Migrations are frozen once released (v1 is ``schema_v1``): only append new ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.schema import CreateColumn

from monitor.store import schema_v1

metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, nullable=False),
)

feeds = Table(
    "feeds",
    metadata,
    Column("url", Text, primary_key=True),  # the configured URL: the feed's identity
    Column("name", Text, nullable=False),
    Column("fetch_url", Text, nullable=False),  # differs after permanent redirects
    Column("active", Integer, nullable=False, default=1),  # 0 once removed from the config
    Column("status", String(16), nullable=False, default="new"),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("interval", Float, nullable=False),
    Column("next_poll_at", Float, nullable=False),
    Column("last_polled_at", Float),
    Column("last_success_at", Float),
    Column("last_error", Text),
    Column("last_error_kind", String(32)),
    Column("error_count", Integer, nullable=False, default=0),
    Column("items_seen", Integer, nullable=False, default=0),
    Column("redirect_target", Text),
    Column("redirect_count", Integer, nullable=False, default=0),
    Column("lease_owner", Text),
    Column("lease_until", Float),
    # v2, adaptive polling: the interval now in force (NULL: the configured one), the
    # estimated rate of new items per second, and polls where every item was new.
    Column("current_interval", Float),
    Column("item_rate", Float),
    Column("possible_gaps", Integer, nullable=False, server_default="0"),
    # v5: what the last successful poll read, so the same body again is not parsed again:
    # a digest of its final URL, Content-Type and body, and its refresh hint (<ttl>, ...).
    Column("body_digest", String(64)),
    Column("ttl", Float),
    # v7: the lease generation (``leases``): bumped by every claim and take-over.
    Column("lease_token", Integer, nullable=False, server_default="0"),
)
Index("ix_feeds_due", feeds.c.active, feeds.c.next_poll_at)

items = Table(
    "items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("feed_url", Text, nullable=False),
    Column("item_key", Text, nullable=False),
    Column("story_key", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("link", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("content", Text, nullable=False),
    Column("published", Float),
    Column("authors", Text, nullable=False),  # JSON list
    Column("categories", Text, nullable=False),  # JSON list
    Column("lang", Text, nullable=False),
    Column("feed_name", Text, nullable=False),
    Column("first_seen_at", Float, nullable=False),
    UniqueConstraint("feed_url", "item_key", name="uq_items_feed_key"),
)
Index("ix_items_seen", items.c.first_seen_at)

alerts = Table(
    "alerts",
    metadata,
    Column("id", String(64), primary_key=True),  # the webhook-id
    Column("rule", Text, nullable=False),
    Column("story_key", Text, nullable=False),
    Column("item_id", Integer, ForeignKey("items.id"), nullable=False),
    Column("payload", Text, nullable=False),  # JSON, fixed at creation: replays send the same
    Column("created_at", Float, nullable=False),
    UniqueConstraint("rule", "story_key", name="uq_alerts_rule_story"),
)
Index("ix_alerts_created", alerts.c.created_at)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", String(64), ForeignKey("alerts.id"), nullable=False),
    Column("webhook", Text, nullable=False),
    Column("state", String(16), nullable=False),  # pending, failed, delivered, dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float),
    Column("last_error", Text),
    Column("last_status", Integer),
    Column("created_at", Float, nullable=False),
    Column("delivered_at", Float),
    Column("lease_owner", Text),
    Column("lease_until", Float),
    UniqueConstraint("alert_id", "webhook", name="uq_deliveries_alert_webhook"),
    # v4: a ``held`` delivery waits in this digest (``digests.id``) instead of going out;
    # once the digest is sealed its state is ``digested``.
    Column("digest_id", String(64)),
    # v7: the lease generation (``leases``): bumped by every claim and take-over.
    Column("lease_token", Integer, nullable=False, server_default="0"),
)
Index("ix_deliveries_due", deliveries.c.state, deliveries.c.next_attempt_at)
Index("ix_deliveries_digest", deliveries.c.digest_id)

webhook_state = Table(
    "webhook_state",
    metadata,
    Column("name", Text, primary_key=True),
    Column("disabled_reason", Text),
    Column("disabled_at", Float),
    Column("held_until", Float),  # a consumer's Retry-After: nothing goes to it before then
)


instances = Table(
    "instances",
    metadata,
    Column("id", Text, primary_key=True),  # the lease owner id
    Column("version", Text, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("heartbeat_at", Float, nullable=False),
)


# v4, throttles and digests (``monitor.core.routing``).
throttle_windows = Table(
    "throttle_windows",
    metadata,
    Column("rule", Text, primary_key=True),
    Column("window_start", Float, primary_key=True),
    Column("seen", Integer, nullable=False),  # the rule's alerts created in the window
)

digests = Table(
    "digests",
    metadata,
    Column("id", String(64), primary_key=True),  # the digest's alert id once sealed
    Column("webhook", Text, nullable=False),
    Column("kind", Text, nullable=False),  # hourly, daily, throttle:<rule>
    Column("window_start", Float, nullable=False),
    Column("window_end", Float, nullable=False),
    Column("held", Integer, nullable=False),
    Column("sealed_at", Float),  # NULL while alerts may still join it
)
Index("ix_digests_due", digests.c.sealed_at, digests.c.window_end)


def _add_columns(conn: Connection, table: str, *columns: Column[Any]) -> None:
    for column in columns:
        ddl = CreateColumn(column).compile(dialect=conn.dialect)
        conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {ddl}")


def _adaptive_polling_v2(conn: Connection) -> None:
    # Columns spelled out here, not taken from ``feeds``: a migration stays as it shipped.
    _add_columns(
        conn,
        "feeds",
        Column("current_interval", Float),
        Column("item_rate", Float),
        Column("possible_gaps", Integer, nullable=False, server_default="0"),
    )


def _instances_v3(conn: Connection) -> None:
    # Spelled out, not ``instances.create``: a migration stays as it shipped.
    conn.exec_driver_sql(
        "CREATE TABLE instances (id TEXT PRIMARY KEY, version TEXT NOT NULL, "
        "started_at FLOAT NOT NULL, heartbeat_at FLOAT NOT NULL)"
    )


def _digests_v4(conn: Connection) -> None:
    # Spelled out, not ``digests.create``: a migration stays as it shipped.
    _add_columns(conn, "deliveries", Column("digest_id", String(64)))
    conn.exec_driver_sql("CREATE INDEX ix_deliveries_digest ON deliveries (digest_id)")
    conn.exec_driver_sql(
        "CREATE TABLE throttle_windows (rule TEXT NOT NULL, window_start FLOAT NOT NULL, "
        "seen INTEGER NOT NULL, PRIMARY KEY (rule, window_start))"
    )
    conn.exec_driver_sql(
        "CREATE TABLE digests (id VARCHAR(64) PRIMARY KEY, webhook TEXT NOT NULL, "
        "kind TEXT NOT NULL, window_start FLOAT NOT NULL, window_end FLOAT NOT NULL, "
        "held INTEGER NOT NULL, sealed_at FLOAT)"
    )
    conn.exec_driver_sql("CREATE INDEX ix_digests_due ON digests (sealed_at, window_end)")


def _unchanged_bodies_v5(conn: Connection) -> None:
    _add_columns(conn, "feeds", Column("body_digest", String(64)), Column("ttl", Float))


def _webhook_hold_v6(conn: Connection) -> None:
    _add_columns(conn, "webhook_state", Column("held_until", Float))


def _lease_tokens_v7(conn: Connection) -> None:
    for table in ("feeds", "deliveries"):
        _add_columns(
            conn, table, Column("lease_token", Integer, nullable=False, server_default="0")
        )


MIGRATIONS: tuple[Callable[[Connection], None], ...] = (
    schema_v1.create,
    _adaptive_polling_v2,
    _instances_v3,
    _digests_v4,
    _unchanged_bodies_v5,
    _webhook_hold_v6,
    _lease_tokens_v7,
)
SCHEMA_VERSION = len(MIGRATIONS)
