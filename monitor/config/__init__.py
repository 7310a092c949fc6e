"""Configuration: YAML with includes and ${ENV} references, validated into frozen settings."""

from monitor.config.settings import (
    CONSOLE_WEBHOOK,
    DEFAULT_CONFIG,
    ClusterSettings,
    Config,
    ExampleItem,
    FeedSettings,
    NetworkSettings,
    RetentionSettings,
    RuleExamples,
    RuleSettings,
    ServerSettings,
    ThrottleSettings,
    WebhookSettings,
    load_config,
    parse_duration,
)

__all__ = [
    "CONSOLE_WEBHOOK",
    "DEFAULT_CONFIG",
    "ClusterSettings",
    "Config",
    "ExampleItem",
    "FeedSettings",
    "NetworkSettings",
    "RetentionSettings",
    "RuleExamples",
    "RuleSettings",
    "ServerSettings",
    "ThrottleSettings",
    "WebhookSettings",
    "load_config",
    "parse_duration",
]
