"""The config's shape: frozen pydantic settings, one class per YAML section.

Field types and validators catch what one value can get wrong; ``monitor.config.load`` checks
what needs the whole config (duplicates, references, the lease against the deadline).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from monitor.config.values import HttpUrlText, Seconds, parse_digest_at, parse_listen
from monitor.redact import redact_url, url_secrets

CONSOLE_WEBHOOK = "console"
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NetworkSettings(_Settings):
    allow_private: bool = False
    allow_cidrs: tuple[str, ...] = ()
    user_agent: str | None = None
    timeout: Seconds = 30.0
    deadline: Seconds = 60.0
    max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    concurrency: int = Field(default=32, ge=1)
    per_host: int = Field(default=2, ge=1)
    per_host_gap: Seconds = 0.5  # between request starts to one host: <= 2 requests/s

    @field_validator("allow_cidrs")
    @classmethod
    def _cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in value:
            ipaddress.ip_network(cidr, strict=False)
        return value


class FeedSettings(_Settings):
    url: HttpUrlText
    name: str = ""  # filled from the host when empty
    interval: Seconds = 600.0
    min_interval: Seconds = 60.0
    max_interval: Seconds = 86400.0

    @field_validator("interval", "min_interval", "max_interval")
    @classmethod
    def _positive(cls, value: float) -> float:
        # Zero would poll the feed back to back, as fast as the network answers.
        if value <= 0:
            raise ValueError("must be more than 0s")
        return value


class ExampleItem(_Settings):
    """A rule example written as an item; a plain string example is an item's title."""

    title: str = ""
    summary: str = ""
    content: str = ""
    link: str = ""
    feed: str = ""
    lang: str = ""


class RuleExamples(_Settings):
    match: tuple[str | ExampleItem, ...] = ()
    no_match: tuple[str | ExampleItem, ...] = ()


class ThrottleSettings(_Settings):
    """At most ``max`` individual alerts per fixed window of ``per``; the rest are digested."""

    max: int = Field(ge=1)
    per: Seconds

    @field_validator("per")
    @classmethod
    def _per(cls, value: float) -> float:
        if value < 60:
            raise ValueError(f"must be at least 1m, not {value:g}s")
        return value


class RuleSettings(_Settings):
    name: Annotated[str, Field(pattern=_NAME)]
    query: Annotated[str, Field(min_length=1)]
    description: str = ""
    stem: str | None = None
    webhooks: tuple[str, ...] | None = None  # None: every webhook
    examples: RuleExamples = RuleExamples()
    throttle: ThrottleSettings | None = None  # see monitor.core.routing


def _broker_url(url: str, schemes: tuple[str, ...]) -> str:
    """``url`` if it has one of ``schemes`` and a host (the SSRF guard checks that host)."""
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 -- raises ValueError on a port that is not a number
    except ValueError:
        raise ValueError(f"{redact_url(url)!r} has an invalid port") from None
    if parts.scheme.lower() not in schemes or not parts.hostname:
        shown = " or ".join(schemes)
        raise ValueError(f"must be a URL with scheme {shown} and a host, not {redact_url(url)!r}")
    return url


class RedisTarget(_Settings):
    """A Redis stream: one ``XADD`` per delivery (``deliver.redis_target``)."""

    url: str
    stream: Annotated[str, Field(min_length=1)]
    maxlen: int | None = Field(default=None, ge=1)  # approximate trimming; None: never trimmed

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _broker_url(value, ("redis", "rediss"))


class AmqpTarget(_Settings):
    """A RabbitMQ exchange, declared durable (``deliver.amqp_target``)."""

    url: str
    exchange: Annotated[str, Field(min_length=1)]
    routing_key: str = ""
    exchange_type: Literal["topic", "direct", "fanout", "headers"] = "topic"

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _broker_url(value, ("amqp", "amqps"))


class NatsTarget(_Settings):
    """A NATS JetStream subject; the operator creates the stream (``deliver.nats_target``)."""

    url: str
    subject: str

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _broker_url(value, ("nats", "tls"))

    @field_validator("subject")
    @classmethod
    def _subject(cls, value: str) -> str:
        tokens = value.split(".")
        if any(t in ("", "*", ">") or any(c.isspace() for c in t) for t in tokens):
            raise ValueError(f"{value!r} is not a subject to publish to (no wildcards or spaces)")
        return value


BrokerTarget = RedisTarget | AmqpTarget | NatsTarget
_TARGET_KEYS = ("url", "apprise", "redis", "amqp", "nats")


class WebhookSettings(_Settings):
    name: Annotated[str, Field(pattern=_NAME)]
    # Exactly one target: an HTTP endpoint (signed), an Apprise URL (deliver.apprise_target),
    # or a message broker (deliver.broker_target).
    url: HttpUrlText | None = None
    apprise: str | None = None
    redis: RedisTarget | None = None
    amqp: AmqpTarget | None = None
    nats: NatsTarget | None = None
    secret: str | tuple[str, ...] | None = None
    format: Literal["json", "cloudevents", "slack", "discord", "teams"] = "json"
    timeout: Seconds = 15.0
    concurrency: int = Field(default=4, ge=1)
    retry_schedule: tuple[Seconds, ...] | None = None
    failure_threshold: int = Field(default=5, ge=1)
    # How long the circuit stays open before one probe; doubles per failed probe (max 10m).
    breaker_cooldown: Seconds = Field(default=30.0, gt=0, le=600)
    # One summary per hour or day instead of individual alerts (monitor.core.routing);
    # digest_at: "HH:MM" UTC when the window closes (hourly: "00:MM"), default "00:00".
    digest: Literal["hourly", "daily"] | None = None
    digest_at: str | None = None

    @field_validator("retry_schedule")
    @classmethod
    def _retry_schedule(cls, value: tuple[float, ...] | None) -> tuple[float, ...] | None:
        # An empty list would otherwise fall back to the default schedule without a word.
        if value == ():
            raise ValueError("give at least one delay, or leave retry_schedule out for the default")
        return value

    @model_validator(mode="after")
    def _one_target(self) -> WebhookSettings:
        if sum(getattr(self, key) is not None for key in _TARGET_KEYS) != 1:
            raise ValueError("give exactly one of url, apprise, redis, amqp and nats")
        if self.digest_at is not None:
            if self.digest is None:
                raise ValueError("digest_at: set digest (hourly or daily) too")
            parse_digest_at(self.digest, self.digest_at)
        if self.apprise is not None and self.secret is not None:
            raise ValueError("secret: Apprise targets are not signed; remove it")
        if self.broker is not None:
            if self.secret is not None:
                raise ValueError(
                    "secret: broker targets are not signed (the broker authenticates "
                    "the publisher); remove it"
                )
            # The message is always the CloudEvents envelope; "json" is only the default.
            if "format" in self.model_fields_set and self.format != "cloudevents":
                raise ValueError(
                    "format: broker messages are always CloudEvents JSON; "
                    "remove it or set cloudevents"
                )
        return self

    @property
    def broker(self) -> BrokerTarget | None:
        """The message broker this webhook publishes to, if it is a broker target."""
        return self.redis or self.amqp or self.nats

    @property
    def secrets(self) -> tuple[str, ...]:
        if self.secret is None:
            return ()
        return (self.secret,) if isinstance(self.secret, str) else self.secret


class ServerSettings(_Settings):
    listen: str = "127.0.0.1:8080"

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        parse_listen(value)
        return value


class ClusterSettings(_Settings):
    """Sharing one PostgreSQL store between instances (also used, harmlessly, on SQLite)."""

    lease: Seconds = 120.0  # how long a claimed feed stays one instance's; > network.deadline
    heartbeat: Seconds = 10.0  # how often an instance says it is alive


class RetentionSettings(_Settings):
    """How long the store keeps things. Keys outlive text so a re-published item stays seen."""

    content: Seconds = 30 * 86400.0  # item text, for `test-rule --since` backtests
    keys: Seconds = 365 * 86400.0  # item identity keys, alerts and their deliveries


class Config(_Settings):
    state: str = "sqlite:///state.db"
    include: tuple[str, ...] = ()
    network: NetworkSettings = NetworkSettings()
    server: ServerSettings = ServerSettings()
    retention: RetentionSettings = RetentionSettings()
    cluster: ClusterSettings = ClusterSettings()
    feeds: tuple[FeedSettings, ...]
    rules: tuple[RuleSettings, ...] = ()
    webhooks: tuple[WebhookSettings, ...] = ()
    # Every file the config was read from (for hot reload); not a YAML key.
    sources: tuple[Path, ...] = Field(default=(), exclude=True)

    @field_validator("state")
    @classmethod
    def _state(cls, value: str) -> str:
        # The store's engines (monitor.store.engine); "+driver" picks a driver of the same one.
        scheme = urlsplit(value).scheme.lower().partition("+")[0]
        if scheme not in ("sqlite", "postgresql", "postgres"):
            raise ValueError(
                f"only sqlite:/// and postgresql:// URLs are supported, not {redact_url(value)!r}"
            )
        return value

    def webhooks_for(self, rule: RuleSettings) -> tuple[str, ...]:
        """Names of the webhooks a rule's alerts go to (the console when none are set)."""
        if not self.webhooks:
            return (CONSOLE_WEBHOOK,)
        if rule.webhooks is None:
            return tuple(w.name for w in self.webhooks)
        return rule.webhooks

    def webhook(self, name: str) -> WebhookSettings | None:
        return next((w for w in self.webhooks if w.name == name), None)

    def secret_values(self) -> frozenset[str]:
        """Every configured value never to be shown (``monitor.redact.redact_text``).

        Webhook signing secrets; each webhook's URL whole (a chat webhook's URL is its
        credential) and Apprise URL whole; and the credentials written in every URL, broker
        URLs included (their host stays readable in errors).
        """
        targets = [t for w in self.webhooks for t in (w.url, w.apprise) if t is not None]
        brokers = [w.broker.url for w in self.webhooks if w.broker is not None]
        found = {s for w in self.webhooks for s in w.secrets} | set(targets)
        for url in (self.state, *targets, *brokers, *(f.url for f in self.feeds)):
            found.update(url_secrets(url))
        return frozenset(found)
