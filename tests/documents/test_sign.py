from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from monitor.documents.secret import validate_secret
from monitor.documents.sign import signature_headers
from monitor.errors import DeliveryError


def make_secret(seed: int, size: int = 32) -> str:
    return "whsec_" + base64.b64encode(bytes((seed + i) % 256 for i in range(size))).decode()


OLD_SECRET = make_secret(1)
NEW_SECRET = make_secret(100, size=25)  # an odd length, so its base64 is padded
BODY = '{"type":"alert.matched","title":"Zentralbank erhöht 🚀"}'.encode()


@pytest.mark.parametrize("secret", [OLD_SECRET, NEW_SECRET])
def test_each_rotated_secret_verifies(secret: str) -> None:
    now = datetime.now(UTC)
    headers = signature_headers("alert-0001", now, BODY, [OLD_SECRET, NEW_SECRET])
    assert Webhook(secret).verify(BODY, headers) == {
        "type": "alert.matched",
        "title": "Zentralbank erhöht 🚀",
    }


def test_headers_shape() -> None:
    moment = datetime(2024, 5, 1, 12, 0, 5, 900_000, tzinfo=UTC)
    headers = signature_headers("alert-0001", moment, BODY, [OLD_SECRET, NEW_SECRET])
    assert headers["webhook-id"] == "alert-0001"
    assert headers["webhook-timestamp"] == str(int(moment.timestamp()))
    signatures = headers["webhook-signature"].split(" ")
    assert [sig.split(",")[0] for sig in signatures] == ["v1", "v1"]
    assert signatures[0] != signatures[1]


def test_other_timezones_sign_the_same_instant() -> None:
    utc_now = datetime.now(UTC).replace(microsecond=0)
    local = utc_now.astimezone(timezone(timedelta(hours=9)))
    assert signature_headers("id", local, BODY, [OLD_SECRET]) == signature_headers(
        "id", utc_now, BODY, [OLD_SECRET]
    )
    Webhook(OLD_SECRET).verify(BODY, signature_headers("id", local, BODY, [OLD_SECRET]))


def test_unknown_secret_and_tampered_body_do_not_verify() -> None:
    headers = signature_headers("alert-0001", datetime.now(UTC), BODY, [OLD_SECRET])
    with pytest.raises(WebhookVerificationError):
        Webhook(make_secret(7)).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(OLD_SECRET).verify(BODY + b" ", headers)


BAD_SECRETS = [
    ("", "empty"),
    ("whsec_", "empty"),
    ("whsec_not*base64!", "not valid base64"),
    ("whsec_" + base64.urlsafe_b64encode(b"\xfb\xff" * 16).decode(), "not valid base64"),
    (make_secret(3, size=16), "16 bytes"),
    (make_secret(3, size=65), "65 bytes"),
]


@pytest.mark.parametrize(("secret", "problem"), BAD_SECRETS)
def test_bad_secret_is_a_clear_error(secret: str, problem: str) -> None:
    with pytest.raises(DeliveryError, match=problem) as raised:
        validate_secret(secret)
    message = str(raised.value)
    assert "\n" not in message
    encoded = secret.removeprefix("whsec_")
    assert not encoded or encoded not in message


@pytest.mark.parametrize(("secret", "problem"), BAD_SECRETS)
def test_signing_names_which_secret_is_bad(secret: str, problem: str) -> None:
    with pytest.raises(DeliveryError, match=f"secret #2: .*{problem}"):
        signature_headers("id", datetime.now(UTC), BODY, [OLD_SECRET, secret])


@pytest.mark.parametrize(
    "secret", [OLD_SECRET, NEW_SECRET, NEW_SECRET.rstrip("="), OLD_SECRET.removeprefix("whsec_")]
)
def test_good_secret_passes_validation_and_verifies(secret: str) -> None:
    validate_secret(secret)
    headers = signature_headers("id", datetime.now(UTC), BODY, [secret])
    Webhook(secret).verify(BODY, headers)


@pytest.mark.parametrize(
    ("msg_id", "secrets", "problem"),
    [("", [OLD_SECRET], "message id is empty"), ("id", [], "no webhook signing secret")],
)
def test_missing_id_or_secrets(msg_id: str, secrets: list[str], problem: str) -> None:
    with pytest.raises(DeliveryError, match=problem):
        signature_headers(msg_id, datetime.now(UTC), BODY, secrets)
