"""Redis Streams targets: one ``XADD`` per delivery (``broker_target`` has the semantics).

The entry's fields are ``alert_id`` (the delivery's id, to deduplicate on) and ``event`` (the
CloudEvents JSON); with ``maxlen`` the stream is trimmed approximately (``MAXLEN ~``), which
Redis does cheaply, whole nodes at a time, so it may hold a few more entries than that.
redis-py's own retries are off: the outbox retries, on the webhook's schedule.
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ResponseError

from monitor.config import BrokerTarget, RedisTarget
from monitor.deliver.broker_client import BrokerMessage, BrokerRefusedError


class RedisStream:
    def __init__(self, target: RedisTarget, timeout: float) -> None:
        self._target = target
        # Connects at the first command; a command on a broken connection raises, and the
        # publisher then closes this client (the next attempt opens a new one).
        self._redis = Redis.from_url(
            target.url,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        self._closed = False

    @property
    def usable(self) -> bool:
        return not self._closed

    async def publish(self, message: BrokerMessage, timeout: float) -> None:
        try:
            await self._redis.xadd(
                self._target.stream,
                {"alert_id": message.id, "event": message.body},
                maxlen=self._target.maxlen,
                approximate=True,
            )
        except ResponseError as exc:  # e.g. the key holds another type: Redis said no
            raise BrokerRefusedError(f"XADD to {self._target.stream!r} refused: {exc}") from None

    async def aclose(self) -> None:
        self._closed = True
        await self._redis.aclose()


async def open_redis(target: BrokerTarget, timeout: float) -> RedisStream:
    assert isinstance(target, RedisTarget)
    return RedisStream(target, timeout)
