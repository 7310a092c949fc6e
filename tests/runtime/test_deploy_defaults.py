"""The unauthenticated endpoints listen on loopback unless told otherwise, and the shipped
container files publish them on the host's loopback only (issue 18, hole 8)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from monitor.config import ServerSettings, load_config

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILES = ("docker-compose.yml", "docker-compose.scale.yml")


def test_the_default_listen_address_is_loopback() -> None:
    assert ServerSettings().listen == "127.0.0.1:8080"
    shipped = load_config(ROOT / "config" / "monitor.yaml", env={})
    assert shipped.server.listen == "127.0.0.1:8080"


def test_the_image_does_not_listen_on_every_interface_by_default() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    settings = [line for line in dockerfile.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in settings if "NEWS_MONITOR_LISTEN" in line]


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_compose_publishes_the_endpoints_on_the_host_loopback_only(name: str) -> None:
    document = yaml.safe_load((ROOT / name).read_text())
    monitor = document["services"]["monitor"]
    assert monitor["ports"], "the endpoints are published"
    for port in monitor["ports"]:
        assert str(port).startswith("127.0.0.1:"), port
    assert "expose" not in monitor
    for service, settings in document["services"].items():
        if service != "monitor":
            assert "ports" not in settings, service
