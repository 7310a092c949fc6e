"""The config's throttles and digest webhooks as the core's ``Routing`` (see core.routing)."""

from __future__ import annotations

from monitor.config.model import Config
from monitor.config.values import parse_digest_at
from monitor.core.routing import DigestSchedule, Routing, Throttle


def routing_from_config(config: Config) -> Routing:
    throttles = {
        rule.name: Throttle(rule.throttle.max, rule.throttle.per)
        for rule in config.rules
        if rule.throttle is not None
    }
    digests = {
        hook.name: DigestSchedule(hook.digest, parse_digest_at(hook.digest, hook.digest_at))
        for hook in config.webhooks
        if hook.digest is not None
    }
    return Routing(throttles, digests)
