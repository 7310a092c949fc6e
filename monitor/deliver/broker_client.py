"""What a broker client is to the publisher (``broker_target``): the message it sends and the
one error that means the broker answered no. Each client (``redis_target``, ``amqp_target``,
``nats_target``) implements ``BrokerClient``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class BrokerMessage:
    id: str  # the alert id; a digest's id for a digest
    content_type: str
    body: bytes


class BrokerRefusedError(Exception):
    """The broker answered and did not take the message; its connection is fine."""


class BrokerClient(Protocol):
    @property
    def usable(self) -> bool:
        """False once the client knows its connection is gone."""

    async def publish(self, message: BrokerMessage, timeout: float) -> None:
        """Return once the broker has the message; raise ``BrokerRefusedError`` if it said no."""

    async def aclose(self) -> None: ...
