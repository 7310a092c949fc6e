"""Broker targets in the config: the keys, their defaults, and one-line errors (exit 2)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from monitor.config import AmqpTarget, NatsTarget, RedisTarget, load_config
from monitor.errors import ConfigError

BROKERS = """
feeds: []
webhooks:
  - name: stream
    redis: {url: 'redis://127.0.0.1:6379/0', stream: news-alerts, maxlen: 100000}
  - name: bus
    amqp: {url: 'amqp://guest:guest@127.0.0.1:5672/', exchange: news, routing_key: alerts}
  - name: jet
    nats: {url: 'nats://127.0.0.1:4222', subject: news.alerts}
    retry_schedule: [1s, 1m]
    concurrency: 2
    timeout: 5s
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "m.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_the_three_broker_keys(tmp_path: Path) -> None:
    stream, bus, jet = load_config(write(tmp_path, BROKERS), env={}).webhooks
    assert stream.broker == RedisTarget(
        url="redis://127.0.0.1:6379/0", stream="news-alerts", maxlen=100000
    )
    assert bus.broker == AmqpTarget(
        url="amqp://guest:guest@127.0.0.1:5672/", exchange="news", routing_key="alerts"
    )
    assert bus.broker.exchange_type == "topic"
    assert jet.broker == NatsTarget(url="nats://127.0.0.1:4222", subject="news.alerts")
    # The usual per-webhook keys apply.
    assert (jet.retry_schedule, jet.concurrency, jet.timeout) == ((1.0, 60.0), 2, 5.0)
    assert (stream.url, stream.apprise) == (None, None)


def test_a_broker_password_is_a_secret_value(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "feeds: []\nwebhooks:\n"
        "  - {name: b, amqp: {url: 'amqps://app:s3cr3t-pw@mq.example/', exchange: x}}\n",
    )
    assert "s3cr3t-pw" in load_config(path, env={}).secret_values()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "{name: a, url: 'https://h.test/x', redis: {url: 'redis://h.test', stream: s}}",
            "webhooks[0]: give exactly one of url, apprise, redis, amqp and nats",
        ),
        (
            "{name: a, nats: {url: 'nats://h.test', subject: s}, amqp: {url: 'amqp://h.test', exchange: x}}",
            "webhooks[0]: give exactly one of url, apprise, redis, amqp and nats",
        ),
        (
            "{name: a, redis: {url: 'http://h.test/', stream: s}}",
            "webhooks[0].redis.url: must be a URL with scheme redis or rediss and a host, not 'http://h.test/'",
        ),
        (
            "{name: a, amqp: {url: 'amqp://user:hunter22@:5672/', exchange: x}}",
            "webhooks[0].amqp.url: must be a URL with scheme amqp or amqps and a host, not 'amqp://:5672/'",
        ),
        (
            "{name: a, nats: {url: 'nats://h.test:42x', subject: s}}",
            "webhooks[0].nats.url: 'nats://h.test:42x' has an invalid port",
        ),
        (
            "{name: a, redis: {url: 'redis://h.test', stream: ''}}",
            "webhooks[0].redis.stream: String should have at least 1 character",
        ),
        (
            "{name: a, redis: {url: 'redis://h.test', stream: s, maxlen: 0}}",
            "webhooks[0].redis.maxlen: Input should be greater than or equal to 1",
        ),
        (
            "{name: a, amqp: {url: 'amqp://h.test', exchange: x, exchange_type: queue}}",
            "webhooks[0].amqp.exchange_type: Input should be 'topic', 'direct', 'fanout' or 'headers'",
        ),
        (
            "{name: a, amqp: {url: 'amqp://h.test'}}",
            "webhooks[0].amqp.exchange: required key is missing",
        ),
        (
            "{name: a, nats: {url: 'nats://h.test', subject: 'news.*'}}",
            "webhooks[0].nats.subject: 'news.*' is not a subject to publish to (no wildcards or spaces)",
        ),
        (
            "{name: a, nats: {url: 'nats://h.test', subject: 'news..alerts'}}",
            "webhooks[0].nats.subject: 'news..alerts' is not a subject to publish to",
        ),
        (
            "{name: a, nats: {url: 'nats://h.test', subject: s, stream: x}}",
            "webhooks[0].nats.stream: unknown key",
        ),
        (
            "{name: a, redis: {url: 'redis://h.test', stream: s}, secret: 'whsec_aGVsbG8='}",
            "webhooks[0]: secret: broker targets are not signed",
        ),
        (
            "{name: a, redis: {url: 'redis://h.test', stream: s}, format: json}",
            "webhooks[0]: format: broker messages are always CloudEvents JSON; remove it or set cloudevents",
        ),
    ],
)
def test_broker_config_errors(tmp_path: Path, entry: str, message: str) -> None:
    path = write(tmp_path, f"feeds: []\nwebhooks:\n  - {entry}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    text = str(info.value)
    assert message in text
    assert "\n" not in text
    assert "hunter22" not in text


def test_format_cloudevents_is_accepted_for_a_broker(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "feeds: []\nwebhooks:\n"
        "  - {name: a, redis: {url: 'redis://h.test', stream: s}, format: cloudevents}\n",
    )
    assert load_config(path, env={}).webhooks[0].format == "cloudevents"


def test_a_broker_config_mistake_exits_2_with_one_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "feeds: []\nwebhooks:\n"
        "  - {name: b, url: 'https://h.example/', nats: {url: 'nats://h.example', subject: s}}\n",
    )
    check = subprocess.run(
        [sys.executable, "-m", "monitor", "check", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 2
    assert check.stdout == ""
    assert check.stderr == (
        f"error: {path}:3: webhooks[0]: give exactly one of url, apprise, redis, amqp and nats\n"
    )
