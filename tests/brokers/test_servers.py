"""Each broker scripts/dbservers starts does what the relay will count on, with its raw client."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict

import aio_pika
import nats
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pamqp.commands import Basic

BOUND = 60.0
"""Seconds a smoke test may take, however slow the machine."""


async def test_kafka_keeps_each_keys_order_with_idempotent_acks_all_writes(
    kafka_bootstrap: str,
) -> None:
    topic = f"evtsrc-smoke-{uuid.uuid4().hex}"
    sent = [(f"key-{n % 4}".encode(), str(n).encode()) for n in range(20)]
    async with asyncio.timeout(BOUND):
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, num_partitions=8, replication_factor=1)])
        finally:
            await admin.close()
        producer = AIOKafkaProducer(
            bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True
        )
        await producer.start()
        try:  # All in flight at once: idempotence keeps each partition's order on retries.
            pending = [await producer.send(topic, value, key=key) for key, value in sent]
            written = await asyncio.gather(*pending)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        received: defaultdict[bytes, list[bytes]] = defaultdict(list)
        partitions: defaultdict[bytes, set[int]] = defaultdict(set)
        try:
            count = 0
            while count < len(sent):
                batches = await consumer.getmany(timeout_ms=1000)
                for records in batches.values():
                    for record in records:
                        assert record.key is not None and record.value is not None
                        received[record.key].append(record.value)
                        partitions[record.key].add(record.partition)
                        count += 1
        finally:
            await consumer.stop()
    expected: defaultdict[bytes, list[bytes]] = defaultdict(list)
    for key, value in sent:
        expected[key].append(value)
    assert received == expected
    assert all(len(used) == 1 for used in partitions.values())  # one partition per key
    assert {metadata.topic for metadata in written} == {topic}


async def test_nats_jetstream_stores_a_message_id_published_twice_once(nats_url: str) -> None:
    stream = f"EVTSRC_SMOKE_{uuid.uuid4().hex}"
    async with asyncio.timeout(BOUND):
        client = await nats.connect(nats_url)
        try:
            jetstream = client.jetstream()
            await jetstream.add_stream(name=stream, subjects=[f"{stream}.>"])
            try:
                headers = {"Nats-Msg-Id": "event-1"}
                first = await jetstream.publish(f"{stream}.a", b"first", headers=headers)
                again = await jetstream.publish(f"{stream}.a", b"again", headers=headers)
                info = await jetstream.stream_info(stream)
                stored = await jetstream.get_msg(stream, seq=first.seq)
            finally:
                await jetstream.delete_stream(stream)
        finally:
            await client.close()
    assert not first.duplicate
    assert again.duplicate and again.seq == first.seq
    assert info.state.messages == 1
    assert stored.data == b"first"


async def test_rabbitmq_confirms_and_returns_a_persistent_message(rabbitmq_url: str) -> None:
    name = f"evtsrc-smoke-{uuid.uuid4().hex}"
    message_id = uuid.uuid4().hex
    async with asyncio.timeout(BOUND):
        connection = await aio_pika.connect(rabbitmq_url)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            queue = await channel.declare_queue(name, durable=True)
            try:
                confirmation = await channel.default_exchange.publish(
                    aio_pika.Message(
                        b"payload",
                        message_id=message_id,
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    ),
                    routing_key=name,
                )
                received = await queue.get(timeout=10)
                assert received is not None
                await received.ack()
            finally:
                await queue.delete(if_unused=False, if_empty=False)
    assert isinstance(confirmation, Basic.Ack)
    assert received.message_id == message_id
    assert received.body == b"payload"
    assert received.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
