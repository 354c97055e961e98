"""Publishing to Kafka through aiokafka (the `kafka` extra)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer

from ._message import MESSAGE_ID, Message
from ._publishing import abandon, acknowledgements, give_up_after

log = logging.getLogger("evtsrc.messaging")


class KafkaPublisher:
    """A `Publisher` to Kafka: an idempotent producer whose sends all in-sync replicas ack.

    Each message goes to `topic` (or its own destination), keyed by its aggregate id,
    so one partition keeps an aggregate's messages in order; its id is the
    `evtsrc-message-id` header. `publish` waits at most `timeout` seconds for the
    acknowledgements. After a failure the producer is closed, and a new one is
    started for the next batch. `bootstrap_servers` is "host:port" or a list of them;
    `client_id` names the producer to the brokers.
    """

    def __init__(
        self,
        bootstrap_servers: str | Sequence[str],
        *,
        topic: str,
        timeout: float = 30.0,
        linger_ms: int = 5,
        client_id: str = "evtsrc-relay",
    ) -> None:
        self.topic = topic
        self._servers = (
            bootstrap_servers if isinstance(bootstrap_servers, str) else list(bootstrap_servers)
        )
        self._timeout = timeout
        self._linger = linger_ms
        self._client_id = client_id
        self._producer: AIOKafkaProducer | None = None

    async def publish(self, messages: Sequence[Message]) -> None:
        """Send `messages` in order and wait until Kafka acknowledged each of them."""
        sent: list[asyncio.Future[Any]] = []
        try:
            async with give_up_after(self._timeout, "Kafka", len(messages)):
                producer = await self._started()
                for message in messages:
                    sent.append(await self._send(producer, message))
                await acknowledgements("Kafka", sent)
        except BaseException:
            abandon(sent)
            await self.close()
            raise

    async def _send(self, producer: AIOKafkaProducer, message: Message) -> asyncio.Future[Any]:
        headers = [(name, value.encode()) for name, value in message.headers.items()]
        headers.append((MESSAGE_ID, message.message_id.encode()))
        future: asyncio.Future[Any] = await producer.send(
            message.destination or self.topic,
            value=message.payload,
            key=message.key.encode(),
            headers=headers,
        )
        return future

    async def _started(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=self._servers,
                client_id=self._client_id,
                acks="all",
                enable_idempotence=True,
                linger_ms=self._linger,
                request_timeout_ms=int(self._timeout * 1000),
            )
            try:
                await producer.start()
            except BaseException:
                await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def close(self) -> None:
        """Stop the producer (what it holds is sent or failed first)."""
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                async with asyncio.timeout(self._timeout):
                    await producer.stop()
            except Exception as error:
                log.warning("closing the Kafka producer: %r", error)
