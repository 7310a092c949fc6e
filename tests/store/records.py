"""Records and shortcuts for the store contract tests (every backend)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import create_engine, func, select

from monitor.documents.payload import DIGEST_LIMIT, digest_document
from monitor.models import (
    DeliveryJob,
    DeliveryResult,
    DeliveryState,
    FeedUpdate,
    Item,
    NewAlert,
    PollCommit,
    PollRecord,
)
from monitor.store import Store
from monitor.store.schema import schema_version

T0 = 1_750_000_000.0


def make_item(key: str, feed_url: str = "http://a.test/feed", story: str | None = None) -> Item:
    return Item(
        key=key,
        story_key=story or f"url:a.test/{key}",
        feed="a",
        feed_url=feed_url,
        title=f"title {key}",
        link=f"http://a.test/{key}",
        summary="summary",
        content="",
        published=datetime(2025, 6, 1, tzinfo=UTC),
        authors=("Ann",),
        categories=("politics",),
        lang="en",
    )


def make_alert(
    alert_id: str, item: Item, rule: str = "r", hooks: tuple[str, ...] = ("h",)
) -> NewAlert:
    return NewAlert(
        id=alert_id,
        rule=rule,
        item=item,
        payload={"data": {"alert_id": alert_id, "rule": rule}},
        webhooks=hooks,
        created_at=T0,
    )


def ok_update(now: float = T0) -> FeedUpdate:
    return FeedUpdate(
        status="ok",
        polled_at=now,
        next_poll_at=now + 600,
        interval=600,
        error_count=0,
        success=True,
        etag='"v1"',
        last_modified="Mon, 02 Jun 2025 10:00:00 GMT",
    )


def record_poll(
    store: Store,
    feed_url: str,
    update: FeedUpdate,
    new_items: Sequence[Item],
    new_alerts: Sequence[NewAlert],
    now: float,
    lease_token: int = 0,
) -> PollCommit:
    """One poll under the claim ``lease_token`` (0: a feed never claimed), written as the
    poller writes it (``record_polls``)."""
    [commit] = store.record_polls(
        [PollRecord(feed_url, update, new_items, new_alerts, now, lease_token)]
    )
    return commit


def record_delivery(
    store: Store,
    job: DeliveryJob,
    *,
    state: DeliveryState,
    attempts: int,
    next_attempt_at: float | None,
    last_error: str | None,
    last_status: int | None,
    delivered_at: float | None = None,
) -> None:
    """One attempt's outcome under ``job``'s claim, written as the sender writes it
    (``record_deliveries``)."""
    result = DeliveryResult(
        job.delivery_id,
        state,
        attempts,
        next_attempt_at,
        last_error,
        last_status,
        delivered_at,
        job.lease_token,
    )
    assert store.record_deliveries([result]) == []


def seal(store: Store, now: float) -> list[str]:
    """Seal the ended digests with the daemon's document (``digest_document``)."""
    return store.seal_due_digests(now, digest_document, listed=DIGEST_LIMIT)


def read(store_url: str, query: Any) -> Any:
    """Run ``query`` on the store's database from outside the store: its one value."""
    engine = create_engine(store_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            return conn.execute(query).scalar_one()
    finally:
        engine.dispose()


def stored_schema_version(store_url: str) -> int:
    return int(read(store_url, select(func.max(schema_version.c.version))))
