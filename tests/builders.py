"""Builders of records shared by tests in several folders."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from monitor.models import Alert, FieldHit, Item

BASE_ITEM = Item(
    key="guid-1",
    story_key="https://news.example/story",
    feed="Example News",
    feed_url="https://news.example/feed.xml",
    title="Central bank raises rates",
    link="https://news.example/story?id=1&ref=rss",
    summary="The central bank raised rates by a quarter point.",
    content="Full text.",
    published=datetime(2024, 5, 1, 11, 30, tzinfo=UTC),
    authors=("A. Writer",),
    categories=("economy", "banks"),
    lang="en",
)


def build_alert(
    *, hits: tuple[FieldHit, ...] | None = None, rule: str = "rates", **item: Any
) -> Alert:
    """An alert on ``BASE_ITEM`` with any item field replaced."""
    return Alert(
        id="alert-0001",
        rule=rule,
        item=dataclasses.replace(BASE_ITEM, **item),
        hits=(
            (FieldHit("title", "Central bank **raises** **rates**", ("raise", "rate")),)
            if hits is None
            else hits
        ),
        created_at=datetime(2024, 5, 1, 12, 0, 5, tzinfo=UTC),
    )
