"""The relay: a handler that publishes stored events to a broker before its bookmark moves."""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar

import cattrs
import msgspec

from .._converter import default_converter
from .._events import Event, StoredEvent
from .._handlers import EventHandler
from .._meta import EventMeta, stored_data
from ._message import (
    AGGREGATE_ID,
    AGGREGATE_VERSION,
    CAUSATION_ID,
    CORRELATION_ID,
    EVENT_ID,
    POSITION,
    STREAM,
    TIMESTAMP,
    TYPE,
    TYPE_VERSION,
    Message,
    Publisher,
)

_encode = msgspec.json.encode
_Made = tuple[str, bytes, str | None]
"""A message's type, payload and destination: what tells two messages of one event apart."""


class Relay(EventHandler):
    """A handler that publishes the events it takes to a broker, through a `Publisher`.

    Subclass it with `@on_event` methods, as any handler, and call `forward` (the
    stored event as it is) or `publish` (an integration message made from it) in
    them. The messages of a batch are sent once its events are handled, and the
    bookmark moves only after the broker acknowledged every one; a failure sends
    the batch again (at least once, each message with the same id). Run it as any
    handler: `Domain.handler(relay)`, or `Domain.handler_group(relay, buckets=...)`
    to share the streams out over processes (each aggregate's events keep their
    order: they are in one bucket).

    ```python
    class OrdersOut(Relay, name="orders-out"):
        @on_event
        def placed(self, event: OrderPlaced, meta: EventMeta) -> None:
            self.forward(event, meta)

        @on_event
        def shipped(self, event: OrderShipped, meta: EventMeta) -> None:
            self.publish(ShipmentNotice(order=meta.aggregate_id), meta, to="shipments")
    ```

    `converter` encodes integration messages (and an event whose stored payload is
    not at hand); evtsrc's default converter unless given.
    """

    def __init__(self, publisher: Publisher, *, converter: cattrs.Converter | None = None) -> None:
        self.publisher = publisher
        self._converter = converter if converter is not None else default_converter()
        self._outbox: ContextVar[list[Message] | None] = ContextVar(
            f"messages of {type(self).__qualname__}", default=None
        )
        self._sent: ContextVar[dict[str, list[_Made]] | None] = ContextVar(
            f"messages per event of {type(self).__qualname__}", default=None
        )

    def forward(self, event: Event, meta: EventMeta, *, to: str | None = None) -> None:
        """Publish `event`, stored as `meta` says, as it is: its stored type, version and JSON.

        `to` is the topic, subject or routing key; the publisher's default if None.
        """
        data = stored_data(meta)
        payload = _encode(data if data is not None else self._converter.unstructure(event))
        headers = _headers(meta, meta.type_name, meta.event_version, meta.causation_id)
        self._queue(meta, meta.type_name, payload, headers, to)

    def publish(self, message: Event, meta: EventMeta, *, to: str | None = None) -> None:
        """Publish `message`, an integration message made from the event of `meta`.

        `message` is an `Event` class of its own (not an aggregate's): its type name
        and version are the public contract, its fields the payload. Its causation is
        the stored event. One event may give several messages, each with its own id.
        """
        if not isinstance(message, Event):
            raise TypeError(
                f"an integration message is an instance of an Event class, not {message!r}"
            )
        cls = type(message)
        payload = _encode(self._converter.unstructure(message))
        headers = _headers(meta, cls.__event_type__, cls.__event_version__, meta.event_id)
        self._queue(meta, cls.__event_type__, payload, headers, to)

    def _queue(
        self,
        meta: EventMeta,
        type_name: str,
        payload: bytes,
        headers: dict[str, str],
        to: str | None,
    ) -> None:
        outbox, sent = self._outbox.get(), self._sent.get()
        if outbox is None or sent is None:
            raise RuntimeError(
                f"{type(self).__qualname__}: forward() and publish() are for its @on_event "
                "methods, while a batch runs"
            )
        event_id = meta.event_id
        made = sent.setdefault(event_id, [])
        if (type_name, payload, to) in made:  # a callback tried again made it already
            return
        count = len(made)
        made.append((type_name, payload, to))
        message_id = f"{self.__handler_name__}:{event_id}" + (f":{count}" if count else "")
        outbox.append(Message(message_id, meta.aggregate_id, type_name, payload, headers, to))

    async def before_batch(self, events: Sequence[StoredEvent[Event]]) -> None:
        """Start the batch's messages (for this batch's task alone)."""
        self._outbox.set([])
        self._sent.set({})

    async def after_batch(self, events: Sequence[StoredEvent[Event]]) -> None:
        """Send the batch's messages and wait for the broker's acknowledgement of each."""
        outbox = self._outbox.get()
        self._outbox.set(None)
        self._sent.set(None)
        if outbox:
            await self.publisher.publish(outbox)

    async def close(self) -> None:
        """Close the publisher (once the relay's runners have stopped)."""
        await self.publisher.close()


def _headers(
    meta: EventMeta, type_name: str, type_version: int, causation: str | None
) -> dict[str, str]:
    headers = {
        TYPE: type_name,
        TYPE_VERSION: str(type_version),
        EVENT_ID: meta.event_id,
        CORRELATION_ID: meta.correlation_id,
        STREAM: meta.stream,
        AGGREGATE_ID: meta.aggregate_id,
        AGGREGATE_VERSION: str(meta.version),
        POSITION: str(meta.position),
        TIMESTAMP: meta.timestamp.isoformat(),
    }
    if causation is not None:
        headers[CAUSATION_ID] = causation
    return headers
