"""The one redaction rule: what of a URL or a text is shown outside the process."""

from __future__ import annotations

import pytest

from monitor.redact import (
    is_secret_name,
    redact_text,
    redact_url,
    url_secrets,
    webhook_display,
)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://example.org/feed", "https://example.org/feed"),
        ("https://example.org/feed?x=1", "https://example.org/feed?x=1"),
        ("https://example.org/feed?x=1&page=2", "https://example.org/feed?x=1&page=2"),
        ("https://user:pw@example.org/feed", "https://example.org/feed"),
        ("https://TOKEN123@example.org/feed", "https://example.org/feed"),
        ("https://u:p@example.org:8443/f?a=1", "https://example.org:8443/f?a=1"),
        ("https://example.org/f?token=abc", "https://example.org/f?token=***"),
        ("https://example.org/f?a=1&TOKEN=abc&b=2", "https://example.org/f?a=1&TOKEN=***&b=2"),
        (
            "https://example.org/f?api_key=k&apikey=k&key=k",
            "https://example.org/f?api_key=***&apikey=***&key=***",
        ),
        ("https://example.org/f?x-api-key=k", "https://example.org/f?x-api-key=***"),
        ("https://example.org/f?client_secret=s", "https://example.org/f?client_secret=***"),
        ("https://example.org/f?refresh_token=s", "https://example.org/f?refresh_token=***"),
        ("https://example.org/f?authToken=s", "https://example.org/f?authToken=***"),
        ("https://example.org/f?sig=s&signature=s", "https://example.org/f?sig=***&signature=***"),
        ("https://example.org/f?X-Amz-Signature=s", "https://example.org/f?X-Amz-Signature=***"),
        ("https://example.org/f?code=c&session=s", "https://example.org/f?code=***&session=***"),
        (
            "https://example.org/f?auth=a&pwd=p&passwd=p",
            "https://example.org/f?auth=***&pwd=***&passwd=***",
        ),
        ("https://example.org/f?access_token=t", "https://example.org/f?access_token=***"),
        (
            "https://example.org/f?monkey=1&zipcode=2&oauth=3",
            "https://example.org/f?monkey=1&zipcode=2&oauth=3",
        ),
        ("https://example.org/f?token=", "https://example.org/f?token="),
        ("https://example.org/f#access_token=t&x=1", "https://example.org/f#access_token=***&x=1"),
        ("https://example.org/f#section-2", "https://example.org/f#section-2"),
        ("https://example.org/user@home", "https://example.org/user@home"),
        ("https://example.org:8080/user@home", "https://example.org:8080/user@home"),
        ("postgresql+psycopg://u:pw@db:5432/news", "postgresql+psycopg://db:5432/news"),
        (
            "postgresql://u@db/news?password=pw&sslmode=require",
            "postgresql://db/news?password=***&sslmode=require",
        ),
        ("postgresql://u:pa/ss#w@db/news", "postgresql://db/news"),
        ("sqlite:///state.db", "sqlite:///state.db"),
        ("not a url", "not a url"),
        ("http://[::1", "http://[::1"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("token", True),
        ("Token", True),
        ("api-key", True),
        ("X-API-KEY", True),
        ("sslpassword", True),
        ("PHPSESSID", True),
        ("session_id", True),
        ("feed_key", True),
        ("api%5Fkey", True),
        ("code", True),
        ("auth_code", True),
        ("status_code", False),
        ("session_count", False),
        ("page", False),
        ("monkey", False),
        ("keyword", False),
        ("utm_source", False),
        ("", False),
    ],
)
def test_is_secret_name(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.slack.com/services/T0/B0/XXXX", "https://hooks.slack.com"),
        ("https://discord.com/api/webhooks/1/abc?wait=true", "https://discord.com"),
        ("http://u:p@127.0.0.1:9000/hook", "http://127.0.0.1:9000"),
        ("nonsense", "***"),
        (None, "***"),
    ],
)
def test_webhook_display(url: str | None, shown: str) -> None:
    assert webhook_display(url) == shown


@pytest.mark.parametrize(
    ("url", "secrets"),
    [
        ("https://example.org/f", ()),
        ("https://u:p%40ss@example.org/f", ("p%40ss", "p@ss")),
        ("https://TOKEN@example.org/f", ("TOKEN",)),
        ("https://example.org/f?a=1&token=t1&key=k#x", ("t1", "k")),
        ("postgresql://u@db/x?password=pw", ("u", "pw")),  # a bare userinfo may be a token
    ],
)
def test_url_secrets(url: str, secrets: tuple[str, ...]) -> None:
    assert url_secrets(url) == secrets


@pytest.mark.parametrize(
    ("text", "secrets", "shown"),
    [
        ("plain text", (), "plain text"),
        (
            "state 'postgresql+psycopg://u:pw@127.0.0.1:1/x': cannot open",
            (),
            "state 'postgresql+psycopg://127.0.0.1:1/x': cannot open",
        ),
        (
            "HTTP 404 from https://a:b@x.org/f?token=t, giving up",
            (),
            "HTTP 404 from https://x.org/f?token=***, giving up",
        ),
        ("see <https://x.org/?key=k>", (), "see <https://x.org/?key=***>"),
        ("bad secret whsec_abcdef here", ("whsec_abcdef",), "bad secret *** here"),
        ("abc and abcdef", ("abcdef", "abc"), "abc and ***"),
        (
            "POST https://hooks.slack.com/services/T/B/X failed",
            ("https://hooks.slack.com/services/T/B/X",),
            "POST *** failed",
        ),
        ("(at https://u:p@x.org/f).", (), "(at https://x.org/f)."),
        ("", ("secret",), ""),
    ],
)
def test_redact_text(text: str, secrets: tuple[str, ...], shown: str) -> None:
    assert redact_text(text, secrets) == shown
