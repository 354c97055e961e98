"""Publishing to RabbitMQ and receiving from it, through aio-pika (the `rabbitmq` extra)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractIncomingMessage,
)

from ._inbox import Inbox
from ._message import MESSAGE_ID, Message
from ._publishing import Connections, acknowledged_later, give_up_after
from ._receiving import Outcome, Receiver

log = logging.getLogger("evtsrc.messaging")


class RabbitPublisher:
    """A `Publisher` to RabbitMQ: persistent messages, confirmed by the broker, never dropped.

    Each message goes to `exchange` ("" is the default exchange, which routes to the
    queue named by the routing key) with `routing_key` (or its own destination), as a
    persistent message with its id as `message_id` and its type as `type`. The
    channel has publisher confirms, and messages are mandatory: one no queue takes
    is an error, not lost. Messages are sent without waiting for each other, in
    order on one channel, and their confirms are awaited at most `timeout` seconds.
    After the connection or channel closes (a broker restart), the next batch
    connects anew, once those sent on the lost one are settled (so that none
    overtakes them). `url` is an AMQP URL.
    """

    def __init__(
        self,
        url: str,
        *,
        exchange: str = "",
        routing_key: str,
        timeout: float = 10.0,
    ) -> None:
        self.exchange_name = exchange
        self.routing_key = routing_key
        self._url = url
        self._timeout = timeout
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._underlay: aiormq.Channel | None = None
        self._connections = Connections("RabbitMQ")

    async def send(self, messages: Sequence[Message]) -> asyncio.Task[None]:
        """Start sending `messages` in order; the task ends once RabbitMQ confirmed each."""
        try:
            async with give_up_after(self._timeout, "RabbitMQ", len(messages)):
                channel = await self._connected()
            self._connections.check()
        except BaseException:
            await self._close_if_broken()
            raise
        # Each publish takes the channel's lock in turn: frames go out in this order.
        sent = [asyncio.ensure_future(self._send(channel, message)) for message in messages]
        task = acknowledged_later("RabbitMQ", self._timeout, sent, self._close_if_broken)
        self._connections.track(task)
        return task

    async def _close_if_broken(self) -> None:
        if self._broken():
            await self.close()  # the next batch connects anew

    def _broken(self) -> bool:
        """Whether the connection or channel closed (a broker restart, a lost link)."""
        connection, channel = self._connection, self._channel
        return connection is None or connection.is_closed or channel is None or channel.is_closed

    async def _send(self, channel: aiormq.Channel, message: Message) -> object:
        headers: dict[str, aio_pika.abc.FieldValue] = dict(message.headers)
        headers[MESSAGE_ID] = message.message_id
        properties = aiormq.spec.Basic.Properties(
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            headers=headers,
            message_id=message.message_id,
            message_type=message.type,
        )
        # wait=False queues the frames without waiting for the socket to take each one
        # before the next: aio-pika's own publish does, a message a turn of the loop.
        return await channel.basic_publish(
            message.payload,
            exchange=self.exchange_name,
            routing_key=message.destination or self.routing_key,
            properties=properties,
            mandatory=True,
            wait=False,
        )

    async def _connected(self) -> aiormq.Channel:
        if self._underlay is None:
            if self._connection is None:
                self._connection = await aio_pika.connect(self._url, timeout=self._timeout)
                self._connections.opened()
            channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
            self._channel = channel
            if self.exchange_name:  # it must exist: publishing to one that does not closes
                await channel.get_exchange(self.exchange_name, ensure=True)
            underlay = await channel.get_underlay_channel()
            if not isinstance(underlay, aiormq.Channel):
                raise TypeError(f"aio-pika gave {underlay!r}, not an aiormq channel")
            self._underlay = underlay
        return self._underlay

    async def close(self) -> None:
        """Close the channel and the connection."""
        connection, self._connection = self._connection, None
        self._channel = self._underlay = None
        if connection is not None:
            try:
                async with asyncio.timeout(self._timeout):
                    await connection.close()
            except Exception as error:
                log.warning("closing the RabbitMQ connection: %r", error)


class RabbitReceiver(Receiver):
    """Feeds an `Inbox` from RabbitMQ queue `queue`, `prefetch` messages in flight.

    Messages are acknowledged as the inbox takes them; one that cannot be decoded is
    rejected without requeueing (to the queue's dead-letter exchange, if it has one).
    Messages are those of an evtsrc relay. See `Receiver` for retries.
    """

    broker = "RabbitMQ"

    def __init__(
        self, url: str, *, queue: str, prefetch: int = 100, retry_delay: float = 0.5
    ) -> None:
        super().__init__(retry_delay=retry_delay)
        if prefetch < 1:
            raise ValueError(f"prefetch must be at least 1, not {prefetch}")
        self.queue = queue
        self._url = url
        self._prefetch = prefetch
        self._connection: aio_pika.abc.AbstractConnection | None = None

    async def _receive(self, inbox: Inbox[Any]) -> None:
        connection = self._connection = await aio_pika.connect(self._url, timeout=10)
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=self._prefetch)
        queue = await channel.get_queue(self.queue, ensure=True)
        arrived: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        await queue.consume(arrived.put, no_ack=False)
        while not self.stopping():
            try:
                async with asyncio.timeout(0.5):
                    message = await arrived.get()
            except TimeoutError:
                if connection.is_closed:
                    raise ConnectionError("the RabbitMQ connection closed") from None
                continue
            headers = {name: _text(value) for name, value in (message.headers or {}).items()}
            outcome = await self.deliver_raw(
                inbox, message.body, headers, message_id=message.message_id
            )
            if outcome is Outcome.REJECTED:
                await message.reject(requeue=False)
            else:
                await message.ack()

    async def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                async with asyncio.timeout(10):
                    await connection.close()
            except Exception as error:
                log.warning("closing the RabbitMQ connection: %r", error)


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
