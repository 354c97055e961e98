"""The relay: a handler that publishes stored events to a broker before its bookmark moves."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from contextvars import ContextVar

import cattrs
import msgspec

from .._converter import default_converter
from .._events import Event, StoredEvent
from .._handlers import EventHandler
from .._meta import EventMeta, MetaRecord, ids_of, record_of, stored_data
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


class _Outbox:
    """The messages of the batch under way.

    An event's messages come one after the other (its callbacks, and any retry of
    them, run before the next event's): `first` is where those of `event_id` start.
    """

    __slots__ = ("event_id", "first", "messages")

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.event_id = ""
        self.first = 0


class Relay(EventHandler):
    """A handler that publishes the events it takes to a broker, through a `Publisher`.

    Subclass it with `@on_event` methods, as any handler, and call `forward` (the
    stored event as it is) or `publish` (an integration message made from it) in
    them. The messages of a batch are sent once its events are handled, and the
    bookmark moves only after the broker acknowledged every one; a failure sends
    the batch again (at least once, each message with the same id). The next
    batches are read and sent while the broker acknowledges one. Run it as any
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
        self._outbox: ContextVar[_Outbox | None] = ContextVar(
            f"messages of {type(self).__qualname__}", default=None
        )

    def forward(self, event: Event, meta: EventMeta, *, to: str | None = None) -> None:
        """Publish `event`, stored as `meta` says, as it is: its stored type, version and JSON.

        `to` is the topic, subject or routing key; the publisher's default if None.
        """
        data = stored_data(meta)
        payload = _encode(data if data is not None else self._converter.unstructure(event))
        event_id, correlation, causation = ids_of(meta)
        record = record_of(meta)
        type_name = record.type
        headers = _headers(record, type_name, record.event_version, event_id, correlation)
        if causation is not None:  # a forwarded event keeps its own cause
            headers[CAUSATION_ID] = causation
        self._queue(record.aggregate_id, event_id, type_name, payload, headers, to)

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
        event_id, correlation, _ = ids_of(meta)
        record = record_of(meta)
        type_name = cls.__event_type__
        headers = _headers(record, type_name, cls.__event_version__, event_id, correlation)
        headers[CAUSATION_ID] = event_id
        self._queue(record.aggregate_id, event_id, type_name, payload, headers, to)

    def _queue(
        self,
        key: str,
        event_id: str,
        type_name: str,
        payload: bytes,
        headers: dict[str, str],
        to: str | None,
    ) -> None:
        outbox = self._outbox.get()
        if outbox is None:
            raise RuntimeError(
                f"{type(self).__qualname__}: forward() and publish() are for its @on_event "
                "methods, while a batch runs"
            )
        message_id = f"{self.__handler_name__}:{event_id}"
        messages = outbox.messages
        if outbox.event_id != event_id:
            outbox.event_id, outbox.first = event_id, len(messages)
        elif count := len(messages) - outbox.first:
            for made in messages[outbox.first :]:
                if made.type == type_name and made.payload == payload and made.destination == to:
                    return  # a callback tried again made it already
            message_id += f":{count}"
        messages.append(Message(message_id, key, type_name, payload, headers, to))

    async def before_batch(self, events: Sequence[StoredEvent[Event]]) -> None:
        """Start the batch's messages (for this batch's task alone)."""
        self._outbox.set(_Outbox())

    async def after_batch(self, events: Sequence[StoredEvent[Event]]) -> Awaitable[None] | None:
        """Send the batch's messages; return the awaitable of the broker's acknowledgements.

        The runner handles the next batches meanwhile, and moves the bookmark past
        this one once they have come.
        """
        outbox = self._outbox.get()
        self._outbox.set(None)
        if outbox is None or not outbox.messages:
            return None
        return await self.publisher.send(outbox.messages)

    async def close(self) -> None:
        """Close the publisher (once the relay's runners have stopped)."""
        await self.publisher.close()


def _headers(
    record: MetaRecord, type_name: str, type_version: int, event_id: str, correlation: str
) -> dict[str, str]:
    """The headers of a message from the event of `record` (but its causation)."""
    return {
        TYPE: type_name,
        TYPE_VERSION: str(type_version),
        EVENT_ID: event_id,
        CORRELATION_ID: correlation,
        STREAM: record.stream,
        AGGREGATE_ID: record.aggregate_id,
        AGGREGATE_VERSION: str(record.version),
        POSITION: str(record.position),
        TIMESTAMP: _encode(record.timestamp)[1:-1].decode(),  # RFC 3339, quicker than isoformat
    }
