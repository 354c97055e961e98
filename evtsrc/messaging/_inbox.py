"""The inbox: runs commands for the messages a broker delivers, each message once."""

from __future__ import annotations

import hashlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar, cast, overload

import attrs
import msgspec

from .. import _telemetry
from .._annotations import event_parameter
from .._codec import Codec
from .._context import INBOX, InboxScope, context
from .._domain import Domain
from .._errors import DefinitionError, EventDecodeError, EvtsrcError
from .._events import Event
from .._jsontypes import JSONObject
from .._storable import MAX_ID_LENGTH, id_problem
from ..backends.base import EventRecord, ProcessedMessages
from ._message import CORRELATION_ID, EVENT_ID, MESSAGE_ID, TYPE, TYPE_VERSION

log = logging.getLogger("evtsrc.messaging")
_ON_MESSAGE_MARK = "__evtsrc_on_message__"
_parse = msgspec.json.Decoder().decode

KEY_ROOM = MAX_ID_LENGTH - 10
"""The longest message id kept as it is in a processed key (room is left for `#<n>`)."""

HandlerT = TypeVar("HandlerT")
MessageT = TypeVar("MessageT", bound=Event)
ResultT = TypeVar("ResultT", bound=Awaitable[None] | None)
H = TypeVar("H", bound="InboxHandler")


class MessageDecodeError(EvtsrcError):
    """A received message's payload does not fit its class (or is not a JSON object)."""

    def __init__(self, message_id: str, type_name: str, problem: str) -> None:
        super().__init__(f"message {message_id!r} of type {type_name!r}: {problem}")
        self.message_id = message_id
        self.type_name = type_name


@attrs.frozen
class Received:
    """A message as a broker delivered it: what an inbox needs of it.

    `type` and `type_version` name the message's class and the version of it that
    wrote `payload` (JSON). `key` is the broker's key (Kafka), if any.
    """

    message_id: str
    type: str
    payload: bytes
    headers: Mapping[str, str] = attrs.field(factory=lambda: {})
    type_version: int = 1
    key: str | None = None

    @classmethod
    def of(
        cls,
        payload: bytes,
        headers: Mapping[str, str],
        *,
        message_id: str | None = None,
        key: str | None = None,
    ) -> Received:
        """A message an evtsrc relay published: its type, version and id from its headers.

        Raises `MessageDecodeError` if the headers lack what they need.
        """
        found_id = message_id or headers.get(MESSAGE_ID)
        type_name = headers.get(TYPE)
        version = _version(headers.get(TYPE_VERSION, "1"))
        if not found_id or not type_name or version is None:
            raise MessageDecodeError(
                str(found_id),
                str(type_name),
                f"it lacks the headers {MESSAGE_ID}, {TYPE} and {TYPE_VERSION} an evtsrc "
                f"relay writes (it has {sorted(headers)})",
            )
        return cls(found_id, type_name, payload, dict(headers), version, key)


# With the received message first: a wrong one is then reported against that signature.
@overload
def on_message(
    method: Callable[[HandlerT, MessageT, Received], ResultT],
) -> Callable[[HandlerT, MessageT, Received], ResultT]: ...
@overload
def on_message(
    method: Callable[[HandlerT, MessageT], ResultT],
) -> Callable[[HandlerT, MessageT], ResultT]: ...
def on_message(method: Callable[..., Any]) -> Callable[..., Any]:
    """Mark an inbox handler method called for each message of the annotated class(es).

    It takes `(self, message)` or `(self, message, received: Received)`, may be
    async, and runs commands: each of them appends once per message, however often
    the broker delivers it.
    """
    setattr(method, _ON_MESSAGE_MARK, True)
    return method


class InboxHandler:
    """Base class of the receiving side: `@on_message` methods run commands for messages.

    `name` names the inbox in the store's record of processed messages (the class
    name by default). The message classes are `Event` classes of the sending
    service's public contract (with their upcasters, if older versions arrive).

    ```python
    class Billing(InboxHandler, name="billing"):
        def __init__(self, accounts: Repository[Account]) -> None:
            self.accounts = accounts

        @on_message
        async def placed(self, message: OrderPlaced) -> None:
            await self.accounts.execute(message.customer, Account.charge, amount=message.total)
    ```
    """

    __inbox_name__: ClassVar[str]

    def __init_subclass__(cls, *, name: str | None = None) -> None:
        super().__init_subclass__()
        cls.__inbox_name__ = name or cls.__dict__.get("__inbox_name__", cls.__name__)
        problem = id_problem(cls.__inbox_name__)
        if problem is not None:
            raise DefinitionError(f"inbox handler {cls.__qualname__}: its name {problem}")

    async def on_unknown(self, received: Received) -> None:
        """Called for a message of a type no `@on_message` method takes; logs and skips it."""
        log.info(
            "inbox %s: no handler for %s (message %s); skipped",
            self.__inbox_name__,
            received.type,
            received.message_id,
            extra=_telemetry.inbox_ids(self.__inbox_name__, received.message_id),
        )


@attrs.frozen
class _Callback:
    function: Callable[..., Any]
    takes_received: bool


class Inbox(Generic[H]):
    """Runs an `InboxHandler`'s callbacks for received messages, each message once.

    The callbacks run commands on `domain`'s repositories. Each command records the
    message's key in its append's transaction (in the domain's backend), so a
    message delivered again appends nothing (the command returns the aggregate as
    stored); once the callback returns, the message is recorded as processed, and a
    later delivery does not run it at all. Run the commands of one callback one
    after another (they are numbered in the order they start). Payloads are decoded
    with the domain's converter.
    """

    def __init__(self, handler: H, domain: Domain) -> None:
        if not isinstance(handler, InboxHandler):
            raise TypeError(f"{handler!r} is not an InboxHandler")
        store = domain.backend
        if not isinstance(store, ProcessedMessages):
            raise DefinitionError(
                f"inbox {handler.__inbox_name__!r} needs a backend that records processed "
                f"messages (ProcessedMessages), not {type(store).__qualname__}"
            )
        self.handler: H = handler
        self.name = handler.__inbox_name__
        self._store: ProcessedMessages = store
        self._callbacks, classes = _callbacks_of(handler)
        self._codec = Codec(domain.codec.converter, classes)

    async def receive(self, received: Received) -> bool:
        """Handle `received` unless it was handled before; whether it was handled now.

        Raises `MessageDecodeError` for a payload that does not fit its class, and what
        the callback raises (the message is then not recorded: handle it again, or set
        it aside).
        """
        callback = self._callbacks.get(received.type)
        if callback is None:
            await self.handler.on_unknown(received)
            return False
        key = processed_key(received.message_id)
        if await self._store.processed(self.name, key):
            return False
        message = self._decode(received)
        headers = received.headers
        token = INBOX.set(InboxScope(self.name, key))
        try:
            async with context(
                correlation_id=_usable(headers.get(CORRELATION_ID)),
                causation_id=_usable(headers.get(EVENT_ID)) or key,
            ):
                result = (
                    callback.function(message, received)
                    if callback.takes_received
                    else callback.function(message)
                )
                if inspect.isawaitable(result):
                    await result
        finally:
            INBOX.reset(token)
        await self._store.mark_processed(self.name, key)
        return True

    def _decode(self, received: Received) -> Event:
        try:
            data = _parse(received.payload)
        except msgspec.DecodeError as error:
            raise MessageDecodeError(
                received.message_id, received.type, f"the payload is not JSON: {error}"
            ) from error
        if not isinstance(data, dict):
            raise MessageDecodeError(
                received.message_id, received.type, "the payload is not a JSON object"
            )
        record = EventRecord(
            "inbox",
            received.key or self.name,
            0,
            0,
            datetime.now(UTC),
            received.type,
            cast("JSONObject", data),
            event_version=received.type_version,
        )
        try:
            return self._codec.decode_record(record)
        except EventDecodeError as error:
            raise MessageDecodeError(
                received.message_id, received.type, str(error.__cause__ or error)
            ) from error


def _version(text: str) -> int | None:
    """A type version header's value, if it is a whole number from 1 (ASCII digits)."""
    if not (text.isascii() and text.isdigit()):
        return None
    version = int(text)
    return version if version >= 1 else None


def _usable(found: str | None) -> str | None:
    """A header's id if it can be recorded as an id (a sender's header may not)."""
    return found if found is not None and id_problem(found) is None else None


def processed_key(message_id: str) -> str:
    """The key a message is recorded under: its id, or a digest of one too long to store."""
    if 0 < len(message_id) <= KEY_ROOM and id_problem(message_id) is None:
        return message_id
    return "sha256:" + hashlib.sha256(message_id.encode("utf-8", "surrogatepass")).hexdigest()


def _callbacks_of(handler: InboxHandler) -> tuple[dict[str, _Callback], list[type[Event]]]:
    cls = type(handler)
    by_type: dict[str, _Callback] = {}
    classes: list[type[Event]] = []
    seen: set[str] = set()
    for klass in cls.__mro__:
        for name, value in vars(klass).items():
            if name in seen or not getattr(value, _ON_MESSAGE_MARK, False):
                continue
            seen.add(name)
            messages, takes_received = event_parameter(cls, name, value, "inbox handler", Received)
            callback = _Callback(getattr(handler, name), takes_received)
            for message in messages:
                for type_name in (message.__event_type__, *message.__event_aliases__):
                    if type_name in by_type:
                        raise DefinitionError(
                            f"{cls.__qualname__} has two handlers for messages {type_name!r}"
                        )
                    by_type[type_name] = callback
                classes.append(message)
    if not by_type:
        raise DefinitionError(f"inbox handler {cls.__qualname__} has no @on_message methods")
    return by_type, classes
