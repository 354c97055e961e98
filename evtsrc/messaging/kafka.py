"""Publishing to Kafka and receiving from it, through aiokafka (the `kafka` extra)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from ._inbox import Inbox
from ._message import MESSAGE_ID, Message
from ._publishing import Connections, abandon, acknowledged_later, give_up_after
from ._receiving import Receiver

log = logging.getLogger("evtsrc.messaging")


class KafkaPublisher:
    """A `Publisher` to Kafka: an idempotent producer whose sends all in-sync replicas ack.

    Each message goes to `topic` (or its own destination), keyed by its aggregate id,
    so one partition keeps an aggregate's messages in order; its id is the
    `evtsrc-message-id` header. The acknowledgements of a batch are awaited at most
    `timeout` seconds. After a failure the producer is closed, and a new one is
    started for the next batch once those the old one took are settled.
    `bootstrap_servers` is "host:port" or a list of them; `client_id` names the
    producer to the brokers.
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
        self._connections = Connections("Kafka")

    async def send(self, messages: Sequence[Message]) -> asyncio.Task[None]:
        """Hand `messages` to the producer in order; the task ends once Kafka acked each."""
        sent: list[asyncio.Future[Any]] = []
        try:
            async with give_up_after(self._timeout, "Kafka", len(messages)):
                producer = await self._started()
                self._connections.check()
                for message in messages:
                    headers = [(name, value.encode()) for name, value in message.headers.items()]
                    headers.append((MESSAGE_ID, message.message_id.encode()))
                    acked: asyncio.Future[Any] = await producer.send(
                        message.destination or self.topic,
                        value=message.payload,
                        key=message.key.encode(),
                        headers=headers,
                    )
                    sent.append(acked)
        except BaseException:
            abandon(sent)
            await self.close()
            raise
        task = acknowledged_later("Kafka", self._timeout, sent, self.close)
        self._connections.track(task)
        return task

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
            self._connections.opened()
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


class KafkaReceiver(Receiver):
    """Feeds an `Inbox` from Kafka topics, as a member of consumer group `group_id`.

    Offsets are committed as the inbox takes the messages (a message delivered again
    after a crash is a repeat the inbox skips); a group's members share the
    partitions, and each partition keeps its order. Messages are those of an evtsrc
    relay (their type, version and id in headers). See `Receiver` for retries.
    """

    broker = "Kafka"

    def __init__(
        self,
        bootstrap_servers: str | Sequence[str],
        *,
        topics: Sequence[str],
        group_id: str,
        retry_delay: float = 0.5,
        client_id: str = "evtsrc-inbox",
    ) -> None:
        super().__init__(retry_delay=retry_delay)
        if isinstance(topics, str) or not topics:
            raise ValueError(f"topics is a non-empty list of topic names, not {topics!r}")
        self.topics = tuple(topics)
        self.group_id = group_id
        self._servers = (
            bootstrap_servers if isinstance(bootstrap_servers, str) else list(bootstrap_servers)
        )
        self._client_id = client_id
        self._consumer: AIOKafkaConsumer | None = None

    async def _receive(self, inbox: Inbox[Any]) -> None:
        consumer = self._consumer = AIOKafkaConsumer(
            *self.topics,
            bootstrap_servers=self._servers,
            client_id=self._client_id,
            group_id=self.group_id,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        while not self.stopping():
            batches = await consumer.getmany(timeout_ms=500)
            for partition, records in batches.items():
                done: int | None = None
                try:
                    for record in records:
                        headers = {k: v.decode("utf-8", "replace") for k, v in record.headers}
                        key = None if record.key is None else record.key.decode("utf-8", "replace")
                        await self.deliver_raw(inbox, record.value or b"", headers, key=key)
                        done = record.offset
                finally:
                    if done is not None:
                        await consumer.commit({partition: done + 1})

    async def _disconnect(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            try:
                async with asyncio.timeout(10):
                    await consumer.stop()
            except Exception as error:
                log.warning("closing the Kafka consumer: %r", error)
