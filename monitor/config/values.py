"""Parsers for the config's text values: durations, clock times, listen addresses, URLs.

Each raises ``ValueError`` with the message a config error shows after the key path.
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


def parse_duration(value: object) -> float:
    """``"90s"``, ``"10m"``, ``"1h30m"``, ``"7d"`` or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration must be a number of seconds or like 30s, 10m, 2h, 7d")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            return float(text)
        if text and _DURATION.sub("", text) == "":
            return sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION.findall(text))
    raise ValueError(
        f"invalid duration {value!r}: use a number of seconds or like 30s, 10m, 2h, 7d"
    )


Seconds = Annotated[float, BeforeValidator(parse_duration)]


def parse_digest_at(every: str, text: str | None) -> float:
    """``digest_at`` (``"HH:MM"`` UTC) as an offset in seconds into the period."""
    if text is None:
        return 0.0
    found = _CLOCK.match(text)
    if found is None:
        raise ValueError(f'digest_at: {text!r} is not a UTC time like "08:30"')
    hours, minutes = int(found[1]), int(found[2])
    if every == "hourly" and hours:
        raise ValueError(
            f'digest_at: an hourly digest uses only the minute; write "00:{minutes:02d}"'
        )
    return hours * 3600.0 + minutes * 60.0


def parse_listen(listen: str) -> tuple[str, int]:
    """``"127.0.0.1:8080"`` / ``"[::1]:8080"`` / ``":8080"`` -> (host, port)."""
    host, _, port = listen.rpartition(":")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"invalid listen address {listen!r}: use HOST:PORT")
    return host.strip("[]") or "0.0.0.0", int(port)


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {value!r}")
    return value


HttpUrlText = Annotated[str, AfterValidator(_http_url)]
