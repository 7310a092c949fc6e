"""Standard Webhooks signatures (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``)."""

from __future__ import annotations

import base64
import binascii
import functools
import math
from collections.abc import Sequence
from datetime import datetime

from standardwebhooks import Webhook

from monitor.documents.payload import as_utc
from monitor.errors import DeliveryError

SECRET_PREFIX = "whsec_"
# The Standard Webhooks spec asks for keys of 24 to 64 bytes.
MIN_KEY_BYTES = 24
MAX_KEY_BYTES = 64


def validate_secret(secret: str) -> None:
    """Raise ``DeliveryError`` with one line saying what is wrong; never echoes the secret."""
    _decode_key(secret)


@functools.lru_cache(maxsize=256)
def _signer(secret: str) -> Webhook:
    """One library signer per secret: building it decodes the key, which every send paid."""
    return Webhook(secret)


@functools.lru_cache(maxsize=256)
def _decode_key(secret: str) -> bytes:
    # Cached: a webhook signs every delivery with the same few secrets. A bad secret raises
    # each time (lru_cache keeps results, not exceptions).
    encoded = secret.removeprefix(SECRET_PREFIX)
    if not encoded:
        raise DeliveryError("webhook secret is empty")
    try:
        # Strict decode: the library's own decoder silently drops invalid characters, so a
        # URL-safe or mistyped secret would sign with a key the consumer does not have.
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error:
        raise DeliveryError(
            f"webhook secret is not valid base64 (expected {SECRET_PREFIX!r} + standard base64)"
        ) from None
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise DeliveryError(
            f"webhook secret decodes to {len(key)} bytes; "
            f"it must be {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes"
        )
    return key


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
            _decode_key(secret)
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
