"""Events: immutable attrs classes with a stable type name, and events read back with meta."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeAlias, TypeVar, dataclass_transform

import attrs

from ._errors import DefinitionError
from ._jsontypes import JSONObject
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

    `version` (1 unless given) is stored with each event; events stored by an
    older version are brought up to this one by the class's upcasters (see
    `upcaster`) before they are decoded. `aliases` are type names the class
    was stored under before, read as this class.
    """

    __slots__ = ()
    __event_type__: ClassVar[str]
    __event_version__: ClassVar[int]
    __event_aliases__: ClassVar[tuple[str, ...]]
    __upcasters__: ClassVar[dict[int, Callable[[dict[str, Any]], dict[str, Any]]]]
    if TYPE_CHECKING:
        __attrs_attrs__: ClassVar[Any]  # lets mypy pass events to attrs.fields() etc.

    def __init_subclass__(
        cls, *, type_name: str | None = None, version: int = 1, aliases: Iterable[str] = ()
    ) -> None:
        super().__init_subclass__()
        name = cls.__name__ if type_name is None else type_name
        for given in (name, *_names(cls, aliases)):
            if not isinstance(given, str) or not NAME_PATTERN.match(given):
                raise DefinitionError(
                    f"event {cls.__qualname__}: type name {given!r} must be {NAME_RULE}"
                )
        if type(version) is not int or version < 1:
            raise DefinitionError(
                f"event {cls.__qualname__}: version must be an int of 1 or more, not {version!r}"
            )
        cls.__event_type__ = name
        cls.__event_version__ = version
        cls.__event_aliases__ = tuple(dict.fromkeys(a for a in aliases if a != name))
        cls.__upcasters__ = {}  # each class its own: a subclass does not upcast as its base
        attrs.frozen(cls, slots=False)


Upcaster: TypeAlias = Callable[[JSONObject], JSONObject]
"""Turns a stored payload of one version of an event class into the next version's."""

U = TypeVar("U", bound=Upcaster)


def upcaster(cls: type[Event], *, from_version: int) -> Callable[[U], U]:
    """Register the decorated function as `cls`'s step from `from_version` to the next.

    ```python
    @upcaster(Deposited, from_version=1)
    def _cents(data: JSONObject) -> JSONObject:
        return {**data, "cents": data["amount"] * 100}
    ```

    It takes the stored JSON object and returns the next version's. Each version
    below the class's own needs exactly one step; a `Domain` refuses a gap.
    """
    current = getattr(cls, "__event_version__", None)
    if current is None:
        raise DefinitionError(f"upcaster: {cls!r} is not an event class")
    if type(from_version) is not int or not 1 <= from_version < current:
        raise DefinitionError(
            f"upcaster for {cls.__qualname__}: from_version must be an int from 1 to "
            f"{current - 1} (the class is at version {current}), not {from_version!r}"
        )

    def register(function: U) -> U:
        known = cls.__upcasters__.get(from_version)
        if known is not None:
            raise DefinitionError(
                f"{cls.__qualname__} has two upcasters from version {from_version}: "
                f"{_name(known)} and {_name(function)}"
            )
        cls.__upcasters__[from_version] = function
        return function

    return register


def _names(cls: type, aliases: Iterable[str]) -> tuple[object, ...]:
    if isinstance(aliases, str):
        raise DefinitionError(
            f"event {cls.__qualname__}: aliases must be a collection of type names, "
            f"not the string {aliases!r}"
        )
    return tuple(aliases)


def _name(function: Callable[..., object]) -> str:
    return getattr(function, "__qualname__", repr(function))


E = TypeVar("E", bound=Event, covariant=True)


@attrs.frozen(slots=True)
class StoredEvent(Generic[E]):
    """An event as read back from the store, with its meta."""

    event: E
    meta: EventMeta


def event_type_name(cls: type[Event]) -> str:
    """The type name stored for events of `cls`."""
    return cls.__event_type__
