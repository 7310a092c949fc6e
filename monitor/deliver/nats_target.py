"""NATS JetStream targets: one JetStream publish per delivery, acknowledged by the stream
(``broker_target`` has the semantics).

The operator creates the stream that takes the subject (``nats stream add``); without one,
an attempt fails ("no stream") and is retried. The alert id goes in the ``Nats-Msg-Id``
header, so the server drops a repeat within the stream's duplicate window (2 minutes unless
configured). An attempt succeeds once the stream acknowledges the message (a duplicate's
acknowledgement too); no acknowledgement within the webhook's ``timeout`` is a failed attempt.

nats-py's own reconnecting is off: a lost connection closes the client, and the next attempt
connects anew, through the SSRF guard's host check again.
"""

from __future__ import annotations

import math

from nats.aio.client import Client
from nats.errors import NoServersError
from nats.js import JetStreamContext
from nats.js.errors import APIError, NoStreamResponseError

from monitor.config import BrokerTarget, NatsTarget
from monitor.deliver.broker_client import BrokerMessage, BrokerRefusedError


class NatsSubject:
    def __init__(self, target: NatsTarget, client: Client) -> None:
        self._target = target
        self._client = client
        self._jetstream: JetStreamContext = client.jetstream()

    @property
    def usable(self) -> bool:
        return bool(self._client.is_connected)

    async def publish(self, message: BrokerMessage, timeout: float) -> None:
        subject = self._target.subject
        headers = {"Nats-Msg-Id": message.id, "Content-Type": message.content_type}
        try:
            await self._jetstream.publish(subject, message.body, timeout=timeout, headers=headers)
        except NoStreamResponseError:
            raise BrokerRefusedError(
                f"no JetStream stream takes subject {subject!r}: create one"
            ) from None
        except APIError as exc:
            raise BrokerRefusedError(f"JetStream refused the message: {exc}") from None

    async def aclose(self) -> None:
        await self._client.close()


async def open_nats(target: BrokerTarget, timeout: float) -> NatsSubject:
    assert isinstance(target, NatsTarget)
    last_error: list[Exception] = []

    async def remember(error: Exception) -> None:
        # nats-py reports connection errors here, not from connect(); a later one (the
        # connection lost) fails the publish waiting on it, which records it.
        last_error[:] = [error]

    # Not nats.connect: it leaves the socket of a connect that failed half-way open.
    client = Client()
    try:
        await client.connect(
            target.url,
            name="news-monitor",
            connect_timeout=max(1, math.ceil(timeout)),
            allow_reconnect=False,
            # Without a limit the first connect retries forever; with one it tries twice.
            max_reconnect_attempts=1,
            reconnect_time_wait=0,
            error_cb=remember,
        )
    except BaseException as exc:  # a failed or cancelled (timed out) one too
        await client.close()
        if isinstance(exc, NoServersError):
            cause = last_error[0] if last_error else "no server"
            raise ConnectionError(f"cannot connect: {cause}") from None
        raise
    return NatsSubject(target, client)
