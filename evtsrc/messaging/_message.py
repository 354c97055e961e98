"""A message for a broker: what a relay publishes, and what an inbox receives."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from typing import Protocol

import msgspec

MESSAGE_ID = "evtsrc-message-id"
"""The message's id, where the broker has no place of its own for one."""
TYPE = "evtsrc-type"
"""The message's type name: the stored event's, or the integration message class's."""
TYPE_VERSION = "evtsrc-type-version"
"""The version of that class that wrote the payload."""
EVENT_ID = "evtsrc-event-id"
"""The id of the stored event the message comes from."""
CORRELATION_ID = "evtsrc-correlation-id"
CAUSATION_ID = "evtsrc-causation-id"
"""The id of the event that caused the message: the stored event itself for an integration
message, the event that caused the stored one (if any) for a forwarded event."""
STREAM = "evtsrc-stream"
AGGREGATE_ID = "evtsrc-aggregate-id"
AGGREGATE_VERSION = "evtsrc-aggregate-version"
POSITION = "evtsrc-position"
TIMESTAMP = "evtsrc-timestamp"
"""When the event was stored, in RFC 3339 (`2026-12-02T05:30:57.123456Z`)."""


class Message(msgspec.Struct, frozen=True, gc=False):
    """One message for a broker.

    `message_id` is the same each time the message is published again (after a crash
    before the bookmark moved), so that brokers and consumers can drop the repeat.
    `key` is the aggregate id: brokers that partition keep one key's messages in
    order. `payload` is JSON; `headers` carry the event's identity and meta (the
    `evtsrc-*` names of this module). `destination` is the topic, subject or routing
    key, or None for the publisher's default.

    A frozen struct, quick to build and not tracked by the garbage collector: a relay
    holds thousands at once.
    """

    message_id: str
    key: str
    type: str
    payload: bytes
    headers: Mapping[str, str]
    destination: str | None = None


class Publisher(Protocol):
    """Sends messages to one broker, for a `Relay`."""

    async def send(self, messages: Sequence[Message]) -> Awaitable[None] | None:
        """Hand `messages` to the broker in order, after those sent before.

        Returns an awaitable of their acknowledgements without waiting for them (or
        None if they are acknowledged already).

        The awaitable completes once the broker has acknowledged every one, and raises
        `PublishFailed` if any was not (in time, or at all): the relay then sends the
        batch again. Connects on first use, and again after the connection is lost.
        """
        ...

    async def close(self) -> None:
        """Let go of the connection (after what is under way)."""
        ...
