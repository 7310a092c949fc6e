"""Durable state: feeds, items seen, alerts and their deliveries (see ``store.Store``)."""

from monitor.store.records import (
    DeliveryJob,
    DeliveryRecord,
    DeliveryResult,
    FeedSpec,
    FeedState,
    FeedUpdate,
    InstanceState,
    NewAlert,
    PollCommit,
    PollRecord,
)
from monitor.store.store import Store

__all__ = [
    "DeliveryJob",
    "DeliveryRecord",
    "DeliveryResult",
    "FeedSpec",
    "FeedState",
    "FeedUpdate",
    "InstanceState",
    "NewAlert",
    "PollCommit",
    "PollRecord",
    "Store",
]
