"""Aggregates: state folded from events, and the commands that decide new events."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeAlias, TypeVar, dataclass_transform

import attrs

from ._errors import DefinitionError
from ._events import Event
from ._storable import NAME_PATTERN, NAME_RULE

A = TypeVar("A", bound="Aggregate")

Decision: TypeAlias = Event | Sequence[Event] | None
"""What a command returns: one event, several, or None for no change."""
C = TypeVar("C", bound=Callable[..., Decision | Awaitable[Decision]])
Fo = TypeVar("Fo", bound=Callable[..., None])

_FOLD_MARK = "__evtsrc_fold__"
_COMMAND_MARK = "__evtsrc_command__"
RESERVED_NAMES = {
    "id": "the aggregate's id",
    "version": "how many events it has",
    "last_position": "the position of its latest event",
    "load": "the method loading other aggregates",
}
"""Attribute names every aggregate has, with what they hold; state may not reuse them."""


@attrs.frozen
class Snapshots:
    """Store an aggregate's state so loading it does not fold its whole stream.

    `every`: a command stores the state once `every` or more events have been
    appended since the stored snapshot (1 stores after every command).
    `key`: the label snapshots are stored under. Left as None it is derived from
    the fold code and the state fields, so changing a fold makes old snapshots
    unusable instead of silently wrong.
    """

    every: int = attrs.field(default=1, validator=attrs.validators.ge(1))
    key: str | None = None


@dataclass_transform(kw_only_default=True, field_specifiers=(attrs.field, attrs.Factory))
class Aggregate:
    """Base class of aggregates.

    Give the stream name in the class statement, the state as annotated
    attributes with defaults, `@folds` methods that apply events to the state
    and `@command` methods that decide new events:

    ```python
    class User(Aggregate, stream="users"):
        name: str = ""

        @folds
        def _created(self, event: UserCreated) -> None:
            self.name = event.name

        @command
        def create(self, name: str) -> UserCreated:
            return UserCreated(name=name)
    ```
    """

    __stream__: ClassVar[str]
    __snapshots__: ClassVar[Snapshots | None]
    if TYPE_CHECKING:
        __attrs_attrs__: ClassVar[Any]  # lets mypy pass aggregates to attrs.fields() etc.

    id: str
    """The aggregate's id ("" on an instance not loaded from a domain)."""
    version: int
    """How many events the aggregate has: 0 when it was never written."""
    last_position: int
    """The global position of the latest event folded into this instance: after an
    `execute` that appended, the last appended event's. 0 when unknown: never written,
    or restored from a snapshot with no event folded after it. Not part of equality."""

    def __init_subclass__(
        cls, *, stream: str | None = None, snapshots: Snapshots | bool | None = None
    ) -> None:
        super().__init_subclass__()
        if stream is None:
            stream = getattr(cls, "__stream__", None)
            if stream is None:
                raise DefinitionError(
                    f"aggregate {cls.__qualname__} needs a stream: class {cls.__name__}"
                    '(Aggregate, stream="...")'
                )
        if not isinstance(stream, str) or not NAME_PATTERN.match(stream):
            raise DefinitionError(
                f"aggregate {cls.__qualname__}: stream {stream!r} must be {NAME_RULE}"
            )
        cls.__stream__ = stream
        if snapshots is None:
            cls.__snapshots__ = getattr(cls, "__snapshots__", None)
        elif isinstance(snapshots, bool):
            cls.__snapshots__ = Snapshots() if snapshots else None
        else:
            cls.__snapshots__ = snapshots
        for name, meaning in RESERVED_NAMES.items():
            if name in cls.__dict__ or name in inspect.get_annotations(cls):
                raise DefinitionError(
                    f"aggregate {cls.__qualname__}: {name!r} is reserved for every aggregate "
                    f"({meaning}); give the field or method another name"
                )
        attrs.define(cls, slots=False, eq=False, repr=False, kw_only=True)

    def __attrs_post_init__(self) -> None:
        self.id = ""
        self.version = 0
        self.last_position = 0

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Aggregate)
        return (
            self.id == other.id
            and self.version == other.version
            and attrs.astuple(self, recurse=False) == attrs.astuple(other, recurse=False)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in attrs.fields(type(self)))
        sep = ", " if fields else ""
        return f"{type(self).__qualname__}(id={self.id!r}, version={self.version}{sep}{fields})"

    async def load(self, cls: type[A], aggregate_id: str) -> A:
        """Load another aggregate from the domain whose command is running.

        For commands that must check other aggregates (a post checks its author
        exists) without importing the domain. It works only while a command runs
        through `Repository.execute`; anywhere else it raises RuntimeError.
        """
        loader = command_loader.get(None)
        if loader is None:
            raise RuntimeError(
                f"{type(self).__qualname__}.load() reads other aggregates only while a command "
                f"runs through Repository.execute; to load {getattr(cls, '__qualname__', cls)} "
                "elsewhere, use domain.repository(...).load()"
            )
        return await loader.load(cls, aggregate_id)


class AggregateLoader(Protocol):
    """Loads the aggregates of one domain: what `Aggregate.load` asks while a command runs."""

    async def load(self, cls: type[A], aggregate_id: str, /) -> A:
        """The aggregate of class `cls` with id `aggregate_id`, as a repository loads it."""
        ...


command_loader: ContextVar[AggregateLoader] = ContextVar("evtsrc_command_loader")
"""The loader of the domain whose command is running, set by its repository for the call."""


def folds(method: Fo) -> Fo:
    """Mark a method that applies an event to the aggregate's state.

    The event parameter's annotation names the event class (or a union of
    them). An optional second parameter receives the event's
    `EventMeta`. The method changes `self` and returns None.
    """
    setattr(method, _FOLD_MARK, True)
    return method


def command(method: C) -> C:
    """Mark a method (sync or async) that decides what happens.

    It takes typed arguments, reads the current state and returns an event, a
    sequence of events, or None (nothing to store). It raises
    `CommandError` when a business rule does not hold. It must
    not change the state itself: events do that, through folds.
    """
    setattr(method, _COMMAND_MARK, True)
    return method


def is_fold(value: object) -> bool:
    """Whether `value` was marked with `folds()`."""
    return callable(value) and getattr(value, _FOLD_MARK, False) is True


def is_command(value: object) -> bool:
    """Whether `value` was marked with `command()`."""
    return callable(value) and getattr(value, _COMMAND_MARK, False) is True
