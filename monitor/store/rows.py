"""Rows to records and back: the store's tables as ``monitor.models`` records."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from monitor.models import (
    DeliveryJob,
    DeliveryRecord,
    FeedState,
    HeldAlert,
    InstanceState,
    Item,
    NewAlert,
)


def feed_state(row: Any) -> FeedState:
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
        lease_token=row.lease_token,
    )


def item_row(item: Item, now: float) -> dict[str, Any]:
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


def item(row: Any) -> Item:
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


def alert_row(alert: NewAlert, item_id: int) -> dict[str, Any]:
    return {
        "id": alert.id,
        "rule": alert.rule,
        "story_key": alert.item.story_key,
        "item_id": item_id,
        "payload": json.dumps(alert.payload, ensure_ascii=False),
        "created_at": alert.created_at,
    }


def held_alert(row: Any) -> HeldAlert:
    return HeldAlert(row.id, row.rule, row.created_at, json.loads(row.payload))


def delivery_job(row: Any) -> DeliveryJob:
    return DeliveryJob(
        delivery_id=row.id,
        alert_id=row.alert_id,
        webhook=row.webhook,
        attempts=row.attempts,
        payload=json.loads(row.payload),
        alert_created_at=row.created_at,
        published=row.published,
        lease_token=row.lease_token,
    )


def delivery_record(row: Any) -> DeliveryRecord:
    """A delivery joined with its alert, item and digest (if the alert is a digest)."""
    return DeliveryRecord(
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


def instance_state(row: Any) -> InstanceState:
    return InstanceState(row.id, row.version, row.started_at, row.heartbeat_at, row.feeds, row.dels)
