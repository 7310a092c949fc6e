"""Durable state: feeds, items seen, alerts and their deliveries (see ``store.Store``)."""

from monitor.store.store import Store

__all__ = ["Store"]
