"""RabbitMQ (AMQP 0-9-1) targets: one persistent message per delivery to a durable exchange
(``broker_target`` has the semantics).

The exchange is declared when the client connects (durable, type ``exchange_type``, topic by
default); declaring it with another type than it already has fails, and says so. Messages are
persistent, carry the alert id as ``message_id`` and the CloudEvents content type, and are
published with publisher confirms and ``mandatory``: an attempt succeeds only once the broker
confirms the message. A nack, or a message no queue is bound to take (returned unroutable), is
a failed attempt, retried on the schedule; so is a confirm that does not come within the
webhook's ``timeout``.
"""

from __future__ import annotations

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange
from aio_pika.connection import make_url
from aio_pika.exceptions import DeliveryError, PublishError

from monitor.config import AmqpTarget, BrokerTarget
from monitor.deliver.broker_client import BrokerMessage, BrokerRefusedError


class AmqpExchange:
    def __init__(
        self,
        target: AmqpTarget,
        connection: AbstractConnection,
        channel: AbstractChannel,
        exchange: AbstractExchange,
    ) -> None:
        self._target = target
        self._connection = connection
        self._channel = channel
        self._exchange = exchange

    @property
    def usable(self) -> bool:
        # A channel error (a failed declare, a protocol error) closes the channel alone.
        return not (self._connection.is_closed or self._channel.is_closed)

    async def publish(self, message: BrokerMessage, timeout: float) -> None:
        amqp_message = aio_pika.Message(
            message.body,
            message_id=message.id,
            content_type=message.content_type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        target = self._target
        try:
            await self._exchange.publish(
                amqp_message, routing_key=target.routing_key, mandatory=True, timeout=timeout
            )
        except PublishError:  # returned: no queue bound for the routing key
            raise BrokerRefusedError(
                f"unroutable: no queue is bound to exchange "
                f"{target.exchange!r} for routing key {target.routing_key!r}"
            ) from None
        except DeliveryError as exc:  # nack or reject
            raise BrokerRefusedError(f"not confirmed: {exc}") from None

    async def aclose(self) -> None:
        await self._connection.close()


async def open_amqp(target: BrokerTarget, timeout: float) -> AmqpExchange:
    assert isinstance(target, AmqpTarget)
    # Not aio_pika.connect: it leaves a connection that failed to open unclosed, for its
    # __del__ to close on whatever thread collects it.
    connection = aio_pika.Connection(make_url(target.url))
    try:
        await connection.connect(timeout=timeout)
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await channel.declare_exchange(
            target.exchange,
            aio_pika.ExchangeType(target.exchange_type),
            durable=True,
            timeout=timeout,
        )
    except BaseException:  # a failed or cancelled (timed out) one too
        await connection.close()
        raise
    return AmqpExchange(target, connection, channel, exchange)
