"""Events: immutable attrs classes with a stable type name, and the meta stored with them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Generic,
    NamedTuple,
    Protocol,
    TypeVar,
    dataclass_transform,
    final,
)

import attrs

from ._errors import DefinitionError
from ._storable import NAME_PATTERN, NAME_RULE


@dataclass_transform(frozen_default=True, field_specifiers=(attrs.field, attrs.Factory))
class Event:
    """Base class of every event.

    A subclass is made a frozen attrs class. Its type name, stored with every
    event, is the class name unless given:

    ```python
    class UserCreated(Event, type_name="user.created"):
        name: str
    ```
    """

    __slots__ = ()
    __event_type__: ClassVar[str]
    if TYPE_CHECKING:
        __attrs_attrs__: ClassVar[Any]  # lets mypy pass events to attrs.fields() etc.

    def __init_subclass__(cls, *, type_name: str | None = None) -> None:
        super().__init_subclass__()
        name = cls.__name__ if type_name is None else type_name
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            raise DefinitionError(
                f"event {cls.__qualname__}: type name {name!r} must be {NAME_RULE}"
            )
        cls.__event_type__ = name
        attrs.frozen(cls, slots=False)


E = TypeVar("E", bound=Event, covariant=True)


class _Record(Protocol):
    """What `EventMeta` reads: a stored record (`evtsrc.backends.base.EventRecord`)."""

    @property
    def stream(self) -> str: ...
    @property
    def aggregate_id(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def position(self) -> int: ...
    @property
    def timestamp(self) -> datetime: ...
    @property
    def type(self) -> str: ...


class _Given(NamedTuple):
    """The fields of an `EventMeta` built directly, as in a test."""

    stream: str
    aggregate_id: str
    version: int
    position: int
    timestamp: datetime
    type: str


@final
class EventMeta:
    """Where and when an event was stored.

    Read-only. It reads its fields from the stored record when asked, so that a
    catch-up or a load builds one per event at the cost of a single reference.
    """

    __slots__ = ("_record",)
    _record: _Record

    def __init__(
        self,
        stream: str,
        aggregate_id: str,
        version: int,
        position: int,
        timestamp: datetime,
        type_name: str,
    ) -> None:
        self._record = _Given(stream, aggregate_id, version, position, timestamp, type_name)

    @property
    def stream(self) -> str:
        """The stream the event is in: its aggregate class's stream name."""
        return self._record.stream

    @property
    def aggregate_id(self) -> str:
        """The id of the aggregate the event belongs to."""
        return self._record.aggregate_id

    @property
    def version(self) -> int:
        """The aggregate's version after this event: 1 for its first event."""
        return self._record.version

    @property
    def position(self) -> int:
        """The event's global position: ascending in the order handlers read."""
        return self._record.position

    @property
    def timestamp(self) -> datetime:
        """When the event was appended (timezone-aware, UTC)."""
        return self._record.timestamp

    @property
    def type_name(self) -> str:
        """The event's stored type name."""
        return self._record.type

    def _fields(self) -> tuple[str, str, int, int, datetime, str]:
        r = self._record
        return (r.stream, r.aggregate_id, r.version, r.position, r.timestamp, r.type)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EventMeta):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        r = self._record
        return (
            f"EventMeta(stream={r.stream!r}, aggregate_id={r.aggregate_id!r}, "
            f"version={r.version!r}, position={r.position!r}, timestamp={r.timestamp!r}, "
            f"type_name={r.type!r})"
        )

    def __reduce__(self) -> tuple[type[EventMeta], tuple[str, str, int, int, datetime, str]]:
        return EventMeta, self._fields()


_new_meta = object.__new__
_set_record: Callable[[EventMeta, _Record], None] = EventMeta.__dict__["_record"].__set__


def meta_of(record: _Record) -> EventMeta:
    """The `EventMeta` of a stored record: a view of it, built without copying a field."""
    meta = _new_meta(EventMeta)
    _set_record(meta, record)
    return meta


@attrs.frozen(slots=True)
class StoredEvent(Generic[E]):
    """An event as read back from the store, with its meta."""

    event: E
    meta: EventMeta


def event_type_name(cls: type[Event]) -> str:
    """The type name stored for events of `cls`."""
    return cls.__event_type__
