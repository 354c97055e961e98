"""The three brokers behind one face, for tests: a fresh destination, a publisher, a reader.

Each test gets its own topic (Kafka), stream and subject (NATS JetStream) or queue
(RabbitMQ), and reads back what reached it with the broker's own client.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

import aio_pika
import attrs
import nats
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from evtsrc.messaging import AGGREGATE_ID, AGGREGATE_VERSION, MESSAGE_ID, Publisher, Receiver
from evtsrc.messaging.kafka import KafkaPublisher, KafkaReceiver
from evtsrc.messaging.nats import NatsPublisher, NatsReceiver
from evtsrc.messaging.rabbitmq import RabbitPublisher, RabbitReceiver
from tests.backends import server_location


@attrs.frozen
class Delivered:
    """A message as a consumer got it."""

    message_id: str
    key: str | None
    type: str | None
    headers: dict[str, str]
    payload: bytes


class Destination(Protocol):
    """One test's topic, stream or queue on a broker."""

    name: str
    location: str
    broker: str

    def publisher(self, timeout: float = 10.0) -> Publisher: ...

    def receiver(self, group: str = "inbox") -> Receiver:
        """A receiver of everything sent here, as member of `group` (a durable, a queue)."""
        ...

    async def send_raw(self, payload: bytes, headers: dict[str, str]) -> None:
        """Send one message with the broker's client, as something other than a relay would."""
        ...

    async def read(self, count: int, *, quiet: float = 1.0, bound: float = 60.0) -> list[Delivered]:
        """Everything delivered, once `count` came and then nothing for `quiet` seconds."""
        ...


BROKERS = ("kafka", "nats", "rabbitmq")
GROUPS = ("inbox", "relay-kills")
"""The receivers' groups a test may use (RabbitMQ gives each a queue of its own)."""
VARIABLES = {
    "kafka": ("EVTSRC_TEST_KAFKA_BOOTSTRAP", "Kafka"),
    "nats": ("EVTSRC_TEST_NATS_URL", "NATS"),
    "rabbitmq": ("EVTSRC_TEST_RABBITMQ_URL", "RabbitMQ"),
}


@contextlib.asynccontextmanager
async def destination(broker: str, location: str | None = None) -> AsyncIterator[Destination]:
    """A fresh destination on `broker` (at `location`, else its test variable's)."""
    if location is None:
        location = server_location(*VARIABLES[broker])
    name = f"evtsrc-{uuid.uuid4().hex[:12]}"
    opened = {"kafka": _kafka, "nats": _nats, "rabbitmq": _rabbitmq}[broker]
    async with opened(location, name) as made:
        yield made


async def _collect(
    count: int, quiet: float, bound: float, next_batch: Callable[[], Awaitable[list[Delivered]]]
) -> list[Delivered]:
    found: list[Delivered] = []
    async with asyncio.timeout(bound):
        while True:
            batch = await next_batch()
            found.extend(batch)
            if not batch and len(found) >= count:
                return found


@attrs.define
class _KafkaTopic:
    name: str
    location: str

    broker = "kafka"

    def publisher(self, timeout: float = 10.0) -> Publisher:
        return KafkaPublisher(self.location, topic=self.name, timeout=timeout)

    def receiver(self, group: str = "inbox") -> Receiver:
        return KafkaReceiver(
            self.location, topics=[self.name], group_id=f"{self.name}-{group}", retry_delay=0.05
        )

    async def send_raw(self, payload: bytes, headers: dict[str, str]) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.location)
        await producer.start()
        try:
            pairs = [(k, v.encode()) for k, v in headers.items()]
            await producer.send_and_wait(self.name, payload, headers=pairs)
        finally:
            await producer.stop()

    async def read(self, count: int, *, quiet: float = 1.0, bound: float = 60.0) -> list[Delivered]:
        consumer = AIOKafkaConsumer(
            self.name,
            bootstrap_servers=self.location,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:

            async def batch() -> list[Delivered]:
                found = await consumer.getmany(timeout_ms=int(quiet * 1000))
                return [
                    _delivered(
                        dict((k, v.decode()) for k, v in record.headers),
                        record.key.decode() if record.key is not None else None,
                        record.value or b"",
                    )
                    for records in found.values()
                    for record in records
                ]

            return await _collect(count, quiet, bound, batch)
        finally:
            await consumer.stop()


@contextlib.asynccontextmanager
async def _kafka(location: str, name: str) -> AsyncIterator[_KafkaTopic]:
    admin = AIOKafkaAdminClient(bootstrap_servers=location)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=8, replication_factor=1)])
        yield _KafkaTopic(name, location)
        await admin.delete_topics([name])
    finally:
        await admin.close()


@attrs.define
class _NatsStream:
    name: str
    location: str

    @property
    def stream(self) -> str:
        return self.name.replace("-", "_").upper()

    broker = "nats"

    def publisher(self, timeout: float = 10.0) -> Publisher:
        return NatsPublisher(self.location, subject=f"{self.name}.events", timeout=timeout)

    def receiver(self, group: str = "inbox") -> Receiver:
        return NatsReceiver(self.location, stream=self.stream, durable=group, retry_delay=0.05)

    async def send_raw(self, payload: bytes, headers: dict[str, str]) -> None:
        client = await nats.connect(self.location)
        try:
            await client.jetstream().publish(f"{self.name}.events", payload, headers=headers)
        finally:
            await client.close()

    async def read(self, count: int, *, quiet: float = 1.0, bound: float = 60.0) -> list[Delivered]:
        client = await nats.connect(self.location)
        try:
            jetstream = client.jetstream()
            subscription = await jetstream.pull_subscribe(f"{self.name}.>", stream=self.stream)

            async def batch() -> list[Delivered]:
                try:
                    messages = await subscription.fetch(500, timeout=quiet)
                except (TimeoutError, nats.errors.TimeoutError):
                    return []
                found = []
                for message in messages:
                    headers = dict(message.headers or {})
                    found.append(
                        _delivered(headers, headers.get("evtsrc-aggregate-id"), message.data)
                    )
                    await message.ack()
                return found

            return await _collect(count, quiet, bound, batch)
        finally:
            await client.close()

    async def stored(self) -> int:
        """How many messages the stream holds."""
        client = await nats.connect(self.location)
        try:
            info = await client.jetstream().stream_info(self.stream)
            return info.state.messages
        finally:
            await client.close()


@contextlib.asynccontextmanager
async def _nats(location: str, name: str) -> AsyncIterator[_NatsStream]:
    made = _NatsStream(name, location)
    client = await nats.connect(location)
    try:
        jetstream = client.jetstream()
        await jetstream.add_stream(name=made.stream, subjects=[f"{name}.>"])
        yield made
        await jetstream.delete_stream(made.stream)
    finally:
        await client.close()


@attrs.define
class _RabbitQueue:
    """A direct exchange `name`, whose routing key `events` feeds two queues: one that
    `read` empties and one for the test's receiver (`<name>-<group>`)."""

    name: str
    location: str
    broker = "rabbitmq"

    def publisher(self, timeout: float = 10.0) -> Publisher:
        return RabbitPublisher(
            self.location, exchange=self.name, routing_key="events", timeout=timeout
        )

    def receiver(self, group: str = "inbox") -> Receiver:
        return RabbitReceiver(self.location, queue=f"{self.name}-{group}", retry_delay=0.05)

    async def send_raw(self, payload: bytes, headers: dict[str, str]) -> None:
        connection = await aio_pika.connect(self.location)
        async with connection:
            channel = await connection.channel()
            exchange = await channel.get_exchange(self.name)
            await exchange.publish(aio_pika.Message(payload, headers=dict(headers)), "events")

    async def read(self, count: int, *, quiet: float = 1.0, bound: float = 60.0) -> list[Delivered]:
        connection = await aio_pika.connect(self.location)
        async with connection:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=500)
            queue = await channel.get_queue(self.name)

            async def batch() -> list[Delivered]:
                found = []
                while True:
                    message = await queue.get(fail=False, timeout=quiet)
                    if message is None:
                        return found
                    headers = {k: str(v) for k, v in (message.headers or {}).items()}
                    found.append(
                        _delivered(headers, headers.get("evtsrc-aggregate-id"), message.body)
                    )
                    await message.ack()
                    if len(found) >= 500:
                        return found

            return await _collect(count, quiet, bound, batch)


@contextlib.asynccontextmanager
async def _rabbitmq(location: str, name: str) -> AsyncIterator[_RabbitQueue]:
    connection = await aio_pika.connect(location)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(name, aio_pika.ExchangeType.DIRECT, durable=True)
        for queue_name in (name, *(f"{name}-{group}" for group in GROUPS)):
            queue = await channel.declare_queue(queue_name, durable=True)
            await queue.bind(exchange, routing_key="events")
    yield _RabbitQueue(name, location)
    connection = await aio_pika.connect(location)  # anew: the test may restart the broker
    async with connection:
        channel = await connection.channel()
        for queue_name in (name, *(f"{name}-{group}" for group in GROUPS)):
            await channel.queue_delete(queue_name)
        await channel.exchange_delete(name)


def _delivered(headers: dict[str, str], key: str | None, payload: bytes) -> Delivered:
    return Delivered(headers[MESSAGE_ID], key, headers.get("evtsrc-type"), headers, payload)


def check_order(delivered: list[Delivered], aggregates: int, per_aggregate: int) -> int:
    """Each aggregate `c<n>`'s versions as delivered: consecutive, or a batch sent again.

    Every version from 1 to `per_aggregate` arrived, and none came before the one
    ahead of it had. Returns how many messages were repeats.
    """
    versions: defaultdict[str, list[int]] = defaultdict(list)
    for message in delivered:
        versions[message.headers[AGGREGATE_ID]].append(int(message.headers[AGGREGATE_VERSION]))
    assert sorted(versions) == sorted(f"c{n}" for n in range(aggregates))
    for aggregate, seen in versions.items():
        highest = 0
        for before, after in zip([0, *seen], seen, strict=False):
            # The next one, or (a batch sent again) back to one already sent, never a gap.
            assert after == before + 1 or after <= highest, (aggregate, before, after, seen)
            highest = max(highest, after)
        assert highest == per_aggregate, (aggregate, seen)
    return len(delivered) - aggregates * per_aggregate
