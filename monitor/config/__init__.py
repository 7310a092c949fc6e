"""Configuration: YAML with includes and ${ENV} references, validated into frozen settings.

``model`` is the settings' shape, ``load`` reads and checks a config, ``values`` parses its
text values; ``secret`` and ``apprise_url`` say which webhook secrets and targets are usable.
"""

from monitor.config.load import DEFAULT_CONFIG, load_config
from monitor.config.model import (
    CONSOLE_WEBHOOK,
    AmqpTarget,
    BrokerTarget,
    ClusterSettings,
    Config,
    ExampleItem,
    FeedSettings,
    NatsTarget,
    NetworkSettings,
    RedisTarget,
    RetentionSettings,
    RuleExamples,
    RuleSettings,
    ServerSettings,
    ThrottleSettings,
    WebhookSettings,
)
from monitor.config.routing import routing_from_config
from monitor.config.values import parse_duration, parse_listen

__all__ = [
    "CONSOLE_WEBHOOK",
    "DEFAULT_CONFIG",
    "AmqpTarget",
    "BrokerTarget",
    "ClusterSettings",
    "Config",
    "ExampleItem",
    "FeedSettings",
    "NatsTarget",
    "NetworkSettings",
    "RedisTarget",
    "RetentionSettings",
    "RuleExamples",
    "RuleSettings",
    "ServerSettings",
    "ThrottleSettings",
    "WebhookSettings",
    "load_config",
    "parse_duration",
    "parse_listen",
    "routing_from_config",
]
