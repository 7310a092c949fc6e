"""What one delivery attempt means: delivered, retried later, dead, or its webhook disabled.

Pure: the sender makes the attempt, passes what came back with ``now`` (wall seconds) and
its random source, and applies the decision: records the row, reports the outcome, tells
the breaker, disables the webhook on a 410, holds the endpoint on a Retry-After. A delivery
that is never attempted (paused) is not judged here: it is given back to the outbox untouched.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from monitor.core.retry import MAX_RETRY_AFTER, Verdict, classify, next_delay
from monitor.models import (
    AttemptDecision,
    AttemptReply,
    AttemptResult,
    DeliveryJob,
    DeliveryOutcome,
    DeliveryResult,
    DeliveryState,
)
from monitor.redact import redact_url, webhook_display

# Only these answers carry a Retry-After a sender must obey (RFC 9110 15.5.20, 15.6.4).
RETRY_AFTER_STATUSES = frozenset({429, 503})


def verdict(reply: AttemptReply) -> Verdict:
    """An attempt without an HTTP status (an Apprise target) succeeded if it has no error."""
    if reply.status is None and reply.error is None:
        return "delivered"
    return classify(reply.status)


def failure_text(reply: AttemptReply) -> str | None:
    """The error recorded for an attempt: ``None`` for a 2xx."""
    if reply.status is None:
        return reply.error
    if 200 <= reply.status < 300:
        return None
    text = f"HTTP {reply.status}"
    if 300 <= reply.status < 400:
        text += f" redirect to {redact_url(reply.location or '?')} (not followed)"
    return text


def attempt_result(
    job: DeliveryJob,
    reply: AttemptReply,
    *,
    schedule: Sequence[float],
    url: str | None,
    now: float,
    rng: random.Random,
) -> AttemptDecision:
    """Judge one attempt of ``job`` (its ``attempts`` made before this one).

    ``schedule`` is the webhook's retry schedule (its length is the attempt budget), ``url``
    its address (a 410's reason names its scheme and host: a chat webhook's path is its
    credential), ``now`` when the attempt ended. ``rng`` jitters
    the retry delay and is drawn from only when a retry is scheduled.
    """
    status = reply.status
    error = failure_text(reply)
    retry_in: float | None = None
    disable_reason: str | None = None
    result: AttemptResult
    match verdict(reply):
        case "delivered":
            result = "delivered"
        case "disable":
            result = "disabled"
            disable_reason = error = f"HTTP 410 Gone from {webhook_display(url)}: webhook disabled"
        case "retry":
            retry_after = reply.retry_after if status in RETRY_AFTER_STATUSES else None
            retry_in = next_delay(job.attempts + 1, schedule, retry_after=retry_after, rng=rng)
            result = "dead" if retry_in is None else "retry"
    state: DeliveryState
    if result == "delivered":
        state, next_at = "delivered", None
    elif result == "dead":
        state, next_at = "dead", None
    else:  # retry; or disabled: kept failed, re-sent once the webhook is enabled again
        state, next_at = "failed", now + (retry_in or 0.0)
    delivered = state == "delivered"
    return AttemptDecision(
        outcome=DeliveryOutcome(
            job.delivery_id,
            job.alert_id,
            job.webhook,
            result,
            status_code=status,
            error=error,
            latency=now - job.alert_created_at if delivered else None,
            published_lag=now - job.published if delivered and job.published else None,
        ),
        result=DeliveryResult(
            job.delivery_id,
            state=state,
            attempts=job.attempts + 1,
            next_attempt_at=next_at,
            last_error=error,
            last_status=status,
            delivered_at=now if delivered else None,
            lease_token=job.lease_token,
        ),
        retry_in=retry_in,
        disable_reason=disable_reason,
    )


def endpoint_hold(reply: AttemptReply, now: float) -> float | None:
    """Until when a consumer's Retry-After (on a 429 or 503) holds its whole endpoint: no
    delivery and no probe goes to it before then. Capped at ``MAX_RETRY_AFTER`` (24 h), so
    one absurd value cannot silence a webhook for good. ``None``: no hold.
    """
    wait = reply.retry_after
    if reply.status not in RETRY_AFTER_STATUSES or wait is None or wait <= 0:
        return None
    return now + min(wait, MAX_RETRY_AFTER)


def counts_as_attempt(decision: AttemptDecision, *, early: bool) -> bool:
    """Is this attempt written to the delivery's row?

    An early probe (a backed-off delivery sent before its retry is due, to learn whether its
    endpoint is back) is not one of the delivery's scheduled attempts: delivered or
    disabling (410) it counts; failed, the row is given back untouched, its attempts and
    schedule as they were, so probing an endpoint that stays down never uses them up.
    """
    return not early or decision.outcome.result in ("delivered", "disabled")
