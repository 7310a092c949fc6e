"""Standard Webhooks signatures (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``)."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from datetime import datetime

from standardwebhooks import Webhook

from monitor.documents.payload import as_utc
from monitor.documents.secret import validate_secret
from monitor.errors import DeliveryError


@functools.lru_cache(maxsize=256)
def _signer(secret: str) -> Webhook:
    """One library signer per secret: building it decodes the key, which every send paid."""
    return Webhook(secret)


def signature_headers(
    msg_id: str, timestamp: datetime, body: bytes, secrets: Sequence[str]
) -> dict[str, str]:
    """Headers for one send; one ``v1,`` signature per secret so rotation has no gap."""
    if not msg_id:
        raise DeliveryError("webhook message id is empty")
    if not secrets:
        raise DeliveryError("no webhook signing secret configured")
    for number, secret in enumerate(secrets, start=1):
        try:
            validate_secret(secret)
        except DeliveryError as err:
            raise DeliveryError(f"secret #{number}: {err}") from None
    # The library takes the clock time of whatever it is given as UTC, so convert first.
    moment = as_utc(timestamp)
    stamp = str(math.floor(moment.timestamp()))
    text = body.decode("utf-8")
    signatures = [_signer(secret).sign(msg_id, moment, text) for secret in secrets]
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": stamp,
        "webhook-signature": " ".join(signatures),
    }
