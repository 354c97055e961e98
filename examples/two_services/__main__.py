"""Two services, each with its own store, talking through a broker.

    python -m examples.two_services                          # an in-process stand-in
    python -m examples.two_services nats://127.0.0.1:4222    # NATS with JetStream
    python -m examples.two_services kafka://127.0.0.1:9092   # Kafka
    python -m examples.two_services amqp://guest:guest@127.0.0.1:5672/   # RabbitMQ

The orders service places three orders; its relay publishes each as the contract's
`OrderPlacedV1`, and then, as after a crash before its bookmark moved, publishes them all
again. The billing service's inbox charges each order once, and its read model shows what
each customer owes. On a broker, the example makes its own topic, stream or queue and
removes it afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid
from collections.abc import AsyncGenerator, Sequence

from evtsrc import Domain
from evtsrc.backends import InMemoryBackend
from evtsrc.messaging import (
    MESSAGE_ID,
    Inbox,
    Message,
    Publisher,
    Received,
    Receiver,
)

from .billing import Account, Balances, Billing
from .orders import Order, OrdersOut

ORDERS = [("o-1", "ann", [("book", 1500), ("pen", 300)]), ("o-2", "bob", [("lamp", 4200)]),
          ("o-3", "ann", [("mug", 900)])]  # fmt: skip


class InProcess:
    """A stand-in for a broker: hands each message straight to the inbox."""

    def __init__(self, inbox: Inbox[Billing]) -> None:
        self.inbox = inbox
        self.handled = self.skipped = 0

    async def send(self, messages: Sequence[Message]) -> None:
        for message in messages:
            headers = {**message.headers, MESSAGE_ID: message.message_id}
            if await self.inbox.receive(Received.of(message.payload, headers)):
                self.handled += 1
            else:
                self.skipped += 1

    async def close(self) -> None:
        pass


async def main(broker: str | None) -> None:
    orders = Domain(InMemoryBackend(), aggregates=[Order])
    billing = Domain(InMemoryBackend(), aggregates=[Account])
    for order, customer, lines in ORDERS:
        await orders.repository(Order).execute(order, Order.place, customer=customer, lines=lines)
    inbox = Inbox(Billing(billing.repository(Account)), billing)
    if broker is None:
        local = InProcess(inbox)
        await _publish_twice(orders, local)
        handled, skipped = local.handled, local.skipped
        print("published 3 orders twice, in process")
    else:
        async with _through(broker) as (publisher, receiver):
            await _publish_twice(orders, publisher)
            await receiver.start(inbox)
            try:
                repeats = 0 if broker.startswith("nats") else 3  # JetStream drops repeats itself
                async with asyncio.timeout(60):
                    while receiver.handled < 3 or receiver.skipped < repeats:  # noqa: ASYNC110 (counters)
                        await asyncio.sleep(0.05)
            finally:
                await receiver.stop()
            handled, skipped = receiver.handled, receiver.skipped
        print(f"published 3 orders twice through {broker.split(':')[0]}")
    print(f"billing charged {handled} orders and skipped {skipped} repeats")
    balances = Balances()
    await billing.handler(balances).run_once()
    for customer, owed in sorted(balances.owed.items()):
        print(f"{customer} owes {owed / 100:.2f}")


async def _publish_twice(orders: Domain, publisher: Publisher) -> None:
    runner = orders.handler(OrdersOut(publisher))
    await runner.run_once()
    await runner.set_position(0)  # as if it crashed before its bookmark moved
    await runner.run_once()


@contextlib.asynccontextmanager
async def _through(broker: str) -> AsyncGenerator[tuple[Publisher, Receiver]]:
    name = f"evtsrc-demo-{uuid.uuid4().hex[:8]}"
    publisher: Publisher
    if broker.startswith("nats://"):
        import nats

        from evtsrc.messaging.nats import NatsPublisher, NatsReceiver

        # nats-py's types are partial: pyright is told where it cannot see them whole.
        client = await nats.connect(broker)  # pyright: ignore[reportUnknownMemberType]
        jetstream = client.jetstream()  # pyright: ignore[reportUnknownMemberType]
        stream = name.replace("-", "_").upper()
        await jetstream.add_stream(  # pyright: ignore[reportUnknownMemberType]
            name=stream, subjects=[f"{name}.>"]
        )
        publisher = NatsPublisher(broker, subject=f"{name}.orders")
        try:
            yield publisher, NatsReceiver(broker, stream=stream, durable="billing")
        finally:
            await publisher.close()
            await jetstream.delete_stream(stream)
            await client.close()
    elif broker.startswith("kafka://"):
        from aiokafka.admin import AIOKafkaAdminClient, NewTopic

        from evtsrc.messaging.kafka import KafkaPublisher, KafkaReceiver

        servers = broker.removeprefix("kafka://")
        admin = AIOKafkaAdminClient(bootstrap_servers=servers)
        await admin.start()
        await admin.create_topics([NewTopic(name, num_partitions=4, replication_factor=1)])
        publisher = KafkaPublisher(servers, topic=name)
        try:
            yield publisher, KafkaReceiver(servers, topics=[name], group_id=f"{name}-billing")
        finally:
            await publisher.close()
            await admin.delete_topics([name])
            await admin.close()
    elif broker.startswith(("amqp://", "amqps://")):
        import aio_pika

        from evtsrc.messaging.rabbitmq import RabbitPublisher, RabbitReceiver

        connection = await aio_pika.connect(broker)
        channel = await connection.channel()
        queue = await channel.declare_queue(name, durable=True)
        publisher = RabbitPublisher(broker, routing_key=name)
        try:
            yield publisher, RabbitReceiver(broker, queue=name)
        finally:
            await publisher.close()
            await queue.delete(if_unused=False, if_empty=False)
            await connection.close()
    else:
        raise SystemExit(f"a broker URL starts nats://, kafka:// or amqp://, not {broker!r}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else None))
