"""Message broker targets: a webhook entry with ``redis:``, ``amqp:`` or ``nats:`` instead of
``url``. Such a delivery goes through the same outbox, lanes, breaker, retry schedule, dead
letters and replay as an HTTP one; only the attempt differs: one publish, its outcome an
``AttemptReply`` without a status (delivered if it has no error, retried if it has one; a
broker target is never disabled by a 410).

The message is the delivery's CloudEvents JSON envelope (``documents.render``, format
``cloudevents``), the very body a ``format: cloudevents`` webhook receives, with the alert id
(a digest's id for a digest) carried beside it: Redis ``XADD`` field ``alert_id``, AMQP
``message_id``, NATS ``Nats-Msg-Id`` header. At least once, as for webhooks: a publish that
went through but whose acknowledgement was lost is published again, so consumers deduplicate
on that id (JetStream drops the repeat itself within its stream's duplicate window).

Connections: one client per broker target, opened at its first attempt and reused by every
later one (``concurrency`` publishes share it). A failed attempt closes its client unless the
broker itself answered (a ``BrokerRefusedError``: a nack, an unroutable message, no stream for the
subject): the next attempt connects anew, so a broker that went away is reconnected to once
it is back. A target changed by a reload gets a new client; ``aclose`` closes them all.

SSRF guard: the broker URL is operator config, yet its host is checked like an Apprise
target's: before each connect every address it resolves to must pass
``monitor.net.guard.check_address`` (loopback and private brokers need
``network.allow_private`` or an ``allow_cidrs`` entry). The client library then resolves and
connects by itself: a DNS answer that changes in between (DNS rebinding) is not caught.

Errors are recorded as ``last_error`` and logged: they name the broker kind and the failure,
never the URL's password (``monitor.redact``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from monitor.config import AmqpTarget, BrokerTarget, NatsTarget, RedisTarget, WebhookSettings
from monitor.deliver.broker_client import BrokerClient, BrokerMessage, BrokerRefusedError
from monitor.documents.render import render
from monitor.errors import FetchError
from monitor.models import AttemptReply, DeliveryJob
from monitor.net.guard import NetworkPolicy, check_address
from monitor.redact import redact_text, url_secrets

# Closing a client whose broker went away must not hold up a lane or shutdown.
CLOSE_TIMEOUT = 5.0


Opener = Callable[[BrokerTarget, float], Awaitable[BrokerClient]]


@functools.cache
def _openers() -> dict[type[BrokerTarget], tuple[str, Opener]]:
    """Each target kind's name and client opener; imported on first use, as most configs
    have no broker target and each client library is sizeable."""
    from monitor.deliver.amqp_target import open_amqp
    from monitor.deliver.nats_target import open_nats
    from monitor.deliver.redis_target import open_redis

    return {
        RedisTarget: ("redis", open_redis),
        AmqpTarget: ("amqp", open_amqp),
        NatsTarget: ("nats", open_nats),
    }


def broker_message(job: DeliveryJob) -> BrokerMessage:
    content_type, body = render("cloudevents", job.payload)
    return BrokerMessage(job.alert_id, content_type, body)


async def check_broker_host(url: str, policy: NetworkPolicy) -> None:
    """Raise ``FetchError`` unless every address the URL's host resolves to is allowed."""
    host = urlsplit(url).hostname or ""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise FetchError("dns", f"cannot resolve {host}: {exc}") from None
    for info in infos:
        check_address(str(info[4][0]), policy, host=host)


async def _close_quietly(client: BrokerClient) -> None:
    # The broker may be gone or hanging: closing is best effort, bounded.
    with contextlib.suppress(Exception):
        async with asyncio.timeout(CLOSE_TIMEOUT):
            await client.aclose()


class BrokerPublisher:
    """Publishes one delivery to its webhook's broker; keeps one client per webhook."""

    def __init__(self, policy: NetworkPolicy) -> None:
        self._policy = policy
        self._clients: dict[str, tuple[BrokerTarget, BrokerClient]] = {}
        self._opening: dict[str, asyncio.Lock] = {}  # one connect at a time per webhook

    async def publish(self, hook: WebhookSettings, job: DeliveryJob) -> AttemptReply:
        target = hook.broker
        assert target is not None, "publish is for broker targets"
        kind, opener = _openers()[type(target)]
        client: BrokerClient | None = None
        try:
            async with asyncio.timeout(hook.timeout):
                client = await self._client(hook.name, target, opener, hook.timeout)
                await client.publish(broker_message(job), hook.timeout)
        except BrokerRefusedError as exc:
            return AttemptReply(error=self._error(target, f"{kind}: {exc}"))
        except TimeoutError:
            error = f"{kind}: timed out after {hook.timeout:g}s"
        except FetchError as exc:  # the guard refused the host, or it does not resolve
            error = f"{kind}: {exc}"
        except Exception as exc:  # each client library raises its own tree: one failed attempt
            error = f"{kind}: {exc.__class__.__name__}: {exc}" if str(exc) else f"{kind}: {exc!r}"
        else:
            return AttemptReply()
        await self._drop(hook.name, client)
        return AttemptReply(error=self._error(target, error))

    @staticmethod
    def _error(target: BrokerTarget, text: str) -> str:
        return redact_text(text, url_secrets(target.url))

    async def _client(
        self, name: str, target: BrokerTarget, opener: Opener, timeout: float
    ) -> BrokerClient:
        async with self._opening.setdefault(name, asyncio.Lock()):
            entry = self._clients.get(name)
            if entry is not None:
                if entry[0] == target and entry[1].usable:
                    return entry[1]
                del self._clients[name]
                await _close_quietly(entry[1])
            await check_broker_host(target.url, self._policy)
            client = await opener(target, timeout)
            self._clients[name] = (target, client)
            return client

    async def _drop(self, name: str, client: BrokerClient | None) -> None:
        """Close a client after a failure; sends sharing it may have dropped it already."""
        entry = self._clients.get(name)
        if client is not None and entry is not None and entry[1] is client:
            del self._clients[name]
            await _close_quietly(client)

    async def aclose(self) -> None:
        clients = [client for _, client in self._clients.values()]
        self._clients.clear()
        await asyncio.gather(*(_close_quietly(client) for client in clients))
