"""The log's last processor: no secret is logged, whoever wrote the event."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from monitor import log


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def logged(capsys: pytest.CaptureFixture[str], emit: Any) -> dict[str, Any]:
    """The one JSON event ``emit`` logs, with a known secret hidden."""
    log.configure("info", json_output=True)  # here: it writes to the captured stderr
    log.hide(["CanaryKnownSecret"])
    emit(log.get("test"))
    event: dict[str, Any] = json.loads(capsys.readouterr().err)
    return event


def test_every_string_value_is_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    event = logged(
        capsys,
        lambda logger: logger.warning(
            "poll failed for https://u:pw@x.test/f?token=t",
            url="https://u:pw@x.test/f?token=t&page=2",
            error="HTTP 404 from https://x.test/f?key=k (CanaryKnownSecret)",
            api_token="raw",
            count=3,
        ),
    )
    assert event["event"] == "poll failed for https://x.test/f?token=***"
    assert event["url"] == "https://x.test/f?token=***&page=2"
    assert event["error"] == "HTTP 404 from https://x.test/f?key=*** (***)"
    assert event["api_token"] == "***"
    assert event["count"] == 3


def test_a_traceback_is_redacted_too(capsys: pytest.CaptureFixture[str]) -> None:
    def crash(logger: Any) -> None:
        try:
            raise ValueError("cannot open postgresql://u:pw@db/x with CanaryKnownSecret")
        except ValueError:
            logger.exception("crashed")

    event = logged(capsys, crash)
    assert "ValueError: cannot open postgresql://db/x with ***" in event["exception"]
