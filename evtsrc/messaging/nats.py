"""Publishing to NATS JetStream through nats-py (the `nats` extra)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext

from ._message import MESSAGE_ID, Message
from ._publishing import abandon, acknowledgements, give_up_after

log = logging.getLogger("evtsrc.messaging")

MSG_ID = "Nats-Msg-Id"
"""The header JetStream drops a repeated message by (within the stream's duplicate window)."""


class NatsPublisher:
    """A `Publisher` to NATS JetStream: each message on `subject` (or its own), with its id.

    A stream must hold the subjects. The message id goes in the `Nats-Msg-Id` header,
    so JetStream keeps one copy of a message sent again within the stream's
    duplicate window (two minutes by default); consumers see it in the
    `evtsrc-message-id` header too. Messages are sent without waiting for each
    other, in order on one connection, and `publish` waits at most `timeout` seconds
    for their acknowledgements. The client reconnects on its own after a lost
    connection. `servers` is a URL ("nats://host:port") or a list of them.
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

    async def publish(self, messages: Sequence[Message]) -> None:
        """Send `messages` in order and wait until JetStream stored each of them."""
        sent: list[asyncio.Future[Any]] = []
        try:
            async with give_up_after(self._timeout, "NATS JetStream", len(messages)):
                stream = await self._connected()
                for message in messages:
                    headers = dict(message.headers)
                    headers[MESSAGE_ID] = headers[MSG_ID] = message.message_id
                    acked = await stream.publish_async(  # pyright: ignore[reportUnknownMemberType]
                        message.destination or self.subject, message.payload, headers=headers
                    )
                    sent.append(acked)
                await acknowledgements("NATS JetStream", sent)
        except BaseException:
            abandon(sent)
            raise

    async def _connected(self) -> JetStreamContext:
        if self._stream is None:
            client = await nats.connect(  # pyright: ignore[reportUnknownMemberType]
                self._servers,
                name=self._name,
                connect_timeout=self._timeout,
                max_reconnect_attempts=-1,
                allow_reconnect=True,
            )
            stream = client.jetstream(timeout=self._timeout)  # pyright: ignore[reportUnknownMemberType]
            self._client, self._stream = client, stream
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
