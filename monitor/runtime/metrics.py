"""Prometheus metrics, in a registry of our own (``/metrics`` serves it)."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from monitor.models import DeliveryOutcome, PollOutcome

REGISTRY = CollectorRegistry(auto_describe=True)
_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 21600)
_LAG_BUCKETS = (30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 21600, 86400)

polls = Counter(
    "monitor_polls",
    "Feed polls by result (ok, unchanged, not_modified or the error kind).",
    ["result"],
    registry=REGISTRY,
)
fetch_duration = Histogram(
    "monitor_fetch_duration_seconds", "Time to fetch a feed.", registry=REGISTRY
)
fetched_bytes = Counter("monitor_fetched_bytes", "Feed bytes fetched.", registry=REGISTRY)
new_items = Counter("monitor_new_items", "Items seen for the first time.", registry=REGISTRY)
feed_gaps = Counter(
    "monitor_feed_possible_gaps",
    "Polls where every item was new: the feed's window may have overflowed.",
    registry=REGISTRY,
)
alerts = Counter("monitor_alerts", "Alerts created, by rule.", ["rule"], registry=REGISTRY)
deliveries = Counter(
    "monitor_deliveries",
    "Delivery attempts by webhook and result.",
    ["webhook", "result"],
    registry=REGISTRY,
)
delivery_latency = Histogram(
    "monitor_delivery_latency_seconds",
    "Alert created to 2xx from the consumer.",
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
publish_lag = Histogram(
    "monitor_publish_to_alert_seconds",
    "Item published to alert delivered.",
    buckets=_LAG_BUCKETS,
    registry=REGISTRY,
)
outbox = Gauge(
    "monitor_outbox_deliveries",
    "Deliveries in the outbox by state.",
    ["state"],
    registry=REGISTRY,
)
feeds = Gauge("monitor_feeds", "Configured feeds by status.", ["status"], registry=REGISTRY)
http_dropped = Counter(
    "monitor_http_connections_dropped",
    "Connections to the endpoints the server turned away, by reason (over_capacity,"
    " cut_for_newer, timeout, accept_failed).",
    ["reason"],
    registry=REGISTRY,
)


def observe_poll(outcome: PollOutcome) -> None:
    polls.labels(outcome.error_kind or outcome.result).inc()
    fetch_duration.observe(outcome.elapsed)
    fetched_bytes.inc(outcome.bytes_read)
    new_items.inc(outcome.new_items)
    if outcome.possible_gap:
        feed_gaps.inc()
    for rule in outcome.alert_rules:
        alerts.labels(rule).inc()


def observe_delivery(outcome: DeliveryOutcome) -> None:
    deliveries.labels(outcome.webhook, outcome.result).inc()
    if outcome.latency is not None:
        delivery_latency.observe(max(outcome.latency, 0.0))
    if outcome.published_lag is not None:
        publish_lag.observe(max(outcome.published_lag, 0.0))


def set_states(outbox_counts: Mapping[str, int], feed_counts: Mapping[str, int]) -> None:
    for state in ("pending", "failed", "delivered", "dead", "held", "digested"):
        outbox.labels(state).set(outbox_counts.get(state, 0))
    for status in ("new", "ok", "backoff", "disabled", "refused"):
        feeds.labels(status).set(feed_counts.get(status, 0))


def render() -> bytes:
    return generate_latest(REGISTRY)
