"""Events: immutable attrs classes with a stable type name, and events read back with meta."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, dataclass_transform

import attrs

from ._errors import DefinitionError
from ._meta import EventMeta
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


@attrs.frozen(slots=True)
class StoredEvent(Generic[E]):
    """An event as read back from the store, with its meta."""

    event: E
    meta: EventMeta


def event_type_name(cls: type[Event]) -> str:
    """The type name stored for events of `cls`."""
    return cls.__event_type__
