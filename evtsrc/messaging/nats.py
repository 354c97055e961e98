"""Publishing to NATS JetStream and receiving from it, through nats-py (the `nats` extra)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import nats
from nats.aio.client import Client
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext

from ._inbox import Inbox
from ._message import MESSAGE_ID, Message
from ._publishing import Connections, abandon, acknowledged_later, give_up_after
from ._receiving import Outcome, Receiver

log = logging.getLogger("evtsrc.messaging")

_UNBOUNDED = 1 << 30
MSG_ID = "Nats-Msg-Id"
"""The header JetStream drops a repeated message by (within the stream's duplicate window)."""


class NatsPublisher:
    """A `Publisher` to NATS JetStream: each message on `subject` (or its own), with its id.

    A stream must hold the subjects. The message id goes in the `Nats-Msg-Id` header,
    so JetStream keeps one copy of a message sent again within the stream's
    duplicate window (two minutes by default); consumers see it in the
    `evtsrc-message-id` header too. Messages are sent without waiting for each
    other, in order on one connection, and their acknowledgements are awaited at most
    `timeout` seconds. The client reconnects on its own after a lost connection.
    `servers` is a URL ("nats://host:port") or a list of them.
    """

    def __init__(
        self,
        servers: str | Sequence[str],
        *,
        subject: str,
        timeout: float = 10.0,
        name: str = "evtsrc-relay",
    ) -> None:
        self.subject = subject
        self._servers = [servers] if isinstance(servers, str) else list(servers)
        self._timeout = timeout
        self._name = name
        self._client: Client | None = None
        self._stream: JetStreamContext | None = None
        self._unacked: set[asyncio.Future[Any]] = set()
        """The acknowledgements awaited on the current connection."""
        self._connections = Connections("NATS JetStream")

    async def send(self, messages: Sequence[Message]) -> asyncio.Task[None]:
        """Hand `messages` to the client in order; the task ends once JetStream stored each."""
        sent: list[asyncio.Future[Any]] = []
        try:
            async with give_up_after(self._timeout, "NATS JetStream", len(messages)):
                stream = await self._connected()
                self._connections.check()
                unacked = self._unacked
                for message in messages:
                    headers = dict(message.headers)
                    headers[MESSAGE_ID] = headers[MSG_ID] = message.message_id
                    acked = await stream.publish_async(  # pyright: ignore[reportUnknownMemberType]
                        message.destination or self.subject, message.payload, headers=headers
                    )
                    unacked.add(acked)
                    acked.add_done_callback(unacked.discard)
                    sent.append(acked)
        except BaseException:
            abandon(sent)
            raise
        task = acknowledged_later("NATS JetStream", self._timeout, sent)
        self._connections.track(task)
        return task

    async def _connected(self) -> JetStreamContext:
        """The JetStream context of a connection: a new one if the last was lost.

        The client does not reconnect on its own: what it would hold back while
        reconnecting, and send after, could overtake what the lost connection took
        with it. The acknowledgements awaited on a lost connection fail at once.
        """
        if self._client is not None and self._client.is_closed:
            self._client = self._stream = None
        if self._stream is None:
            unacked: set[asyncio.Future[Any]] = set()

            async def lost() -> None:
                for future in list(unacked):
                    if not future.done():
                        future.set_exception(
                            ConnectionError("the connection to NATS was lost before the ack")
                        )

            client = await nats.connect(  # pyright: ignore[reportUnknownMemberType]
                self._servers,
                name=self._name,
                connect_timeout=self._timeout,
                allow_reconnect=False,
                disconnected_cb=lost,
                closed_cb=lost,
            )
            # The relay bounds the messages in flight. Past the client's own bound,
            # publish_async would wait in a way that turns a cancel into another error.
            stream = client.jetstream(  # pyright: ignore[reportUnknownMemberType]
                timeout=self._timeout, publish_async_max_pending=_UNBOUNDED
            )
            self._client, self._stream, self._unacked = client, stream, unacked
            self._connections.opened()
        return self._stream

    async def close(self) -> None:
        """Drain and close the connection."""
        client, self._client, self._stream = self._client, None, None
        if client is not None:
            try:
                async with asyncio.timeout(self._timeout):
                    await client.drain()
            except Exception as error:
                log.warning("closing the NATS connection: %r", error)
                await client.close()


class NatsReceiver(Receiver):
    """Feeds an `Inbox` from a JetStream stream, through durable pull consumer `durable`.

    Messages on `subject` (the stream's every subject if None) are fetched `batch` at
    a time and acknowledged as the inbox takes them; one that cannot be decoded is
    terminated (JetStream does not send it again). Several receivers with one
    `durable` share its messages. Messages are those of an evtsrc relay. See
    `Receiver` for retries.
    """

    broker = "NATS JetStream"

    def __init__(
        self,
        servers: str | Sequence[str],
        *,
        stream: str,
        durable: str,
        subject: str | None = None,
        batch: int = 100,
        retry_delay: float = 0.5,
        name: str = "evtsrc-inbox",
    ) -> None:
        super().__init__(retry_delay=retry_delay)
        if batch < 1:
            raise ValueError(f"batch must be at least 1, not {batch}")
        self.stream = stream
        self.durable = durable
        self.subject = subject
        self._servers = [servers] if isinstance(servers, str) else list(servers)
        self._batch = batch
        self._name = name
        self._client: Client | None = None

    async def _receive(self, inbox: Inbox[Any]) -> None:
        client = self._client = await nats.connect(  # pyright: ignore[reportUnknownMemberType]
            self._servers, name=self._name, connect_timeout=10, max_reconnect_attempts=-1
        )
        stream = client.jetstream()  # pyright: ignore[reportUnknownMemberType]
        subscription = await stream.pull_subscribe(
            self.subject or ">", durable=self.durable, stream=self.stream
        )
        while not self.stopping():
            try:
                messages = await subscription.fetch(self._batch, timeout=1.0)
            except (TimeoutError, NatsTimeout):
                continue
            for message in messages:
                outcome = await self.deliver_raw(inbox, message.data, dict(message.headers or {}))
                if outcome is Outcome.REJECTED:
                    await message.term()
                else:
                    await message.ack()

    async def _disconnect(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                async with asyncio.timeout(10):
                    await client.close()
            except Exception as error:
                log.warning("closing the NATS connection: %r", error)
