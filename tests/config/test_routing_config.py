"""Throttles and digests in the config: their mistakes, and the Routing they become."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import load_config, routing_from_config
from monitor.config.values import parse_digest_at
from monitor.core.routing import DigestSchedule, Throttle
from monitor.errors import ConfigError

H = 3600.0


@pytest.mark.parametrize(
    ("every", "at", "offset"),
    [
        ("daily", None, 0.0),
        ("daily", "08:30", 30600.0),
        ("hourly", None, 0.0),
        ("hourly", "00:15", 900.0),
    ],
)
def test_parse_digest_at(every: str, at: str | None, offset: float) -> None:
    assert parse_digest_at(every, at) == offset


def write_config(tmp_path: Path, rule: str, hook: str) -> Path:
    path = tmp_path / "m.yaml"
    path.write_text(
        "feeds:\n  - url: https://a.example/rss\n"
        f"rules:\n  - name: r\n    query: x\n{rule}"
        f"webhooks:\n  - name: h\n    url: https://hook.example/x\n{hook}"
    )
    return path


@pytest.mark.parametrize(
    ("rule", "hook", "message"),
    [
        ("    throttle: {max: 0, per: 1h}\n", "", "rules[0].throttle.max: Input should be greater"),
        ("    throttle: {max: 5, per: 30s}\n", "", "rules[0].throttle.per: must be at least 1m"),
        ("    throttle: {max: 5}\n", "", "rules[0].throttle.per: required key is missing"),
        ("", "    digest: weekly\n", "webhooks[0].digest: Input should be 'hourly' or 'daily'"),
        ("", "    digest: hourly\n    digest_at: '08:15'\n", 'write "00:15"'),
        ("", "    digest: daily\n    digest_at: '8h'\n", "not a UTC time like"),
        ("", "    digest_at: '08:00'\n", "set digest (hourly or daily) too"),
    ],
)
def test_config_errors_are_one_clear_line(
    tmp_path: Path, rule: str, hook: str, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write_config(tmp_path, rule, hook), env={})
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_config_routing(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        "    throttle: {max: 5, per: 1h}\n",
        "    digest: daily\n    digest_at: '07:45'\n",
    )
    routing = routing_from_config(load_config(path, env={}))
    assert routing.throttles == {"r": Throttle(5, 3600.0)}
    assert routing.digests == {"h": DigestSchedule("daily", 7 * H + 45 * 60)}
