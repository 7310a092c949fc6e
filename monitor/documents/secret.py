"""What a webhook signing secret must be: Standard Webhooks' ``whsec_`` + base64 of the key.

Checked when the config loads and again before each signature, so a bad secret is a one-line
error and never a key the consumer does not have.
"""

from __future__ import annotations

import base64
import binascii
import functools

from monitor.errors import DeliveryError

SECRET_PREFIX = "whsec_"
# The Standard Webhooks spec asks for keys of 24 to 64 bytes.
MIN_KEY_BYTES = 24
MAX_KEY_BYTES = 64


def validate_secret(secret: str) -> None:
    """Raise ``DeliveryError`` with one line saying what is wrong; never echoes the secret."""
    _decode_key(secret)


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
