"""Event handlers: projections and process managers that follow streams in global order."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any, ClassVar, Generic, TypeVar, overload

import attrs

from . import _telemetry
from ._annotations import event_parameter
from ._errors import DefinitionError
from ._events import Event, StoredEvent
from ._meta import EventMeta
from ._storable import id_problem
from ._streams import StreamMap

log = logging.getLogger("evtsrc.handlers")
_ON_EVENT_MARK = "__evtsrc_on_event__"

HandlerT = TypeVar("HandlerT")
EventT = TypeVar("EventT", bound=Event)
ResultT = TypeVar("ResultT", bound=Awaitable[None] | None)


# With meta first: a wrong meta is then reported against the signature that takes it.
@overload
def on_event(
    method: Callable[[HandlerT, EventT, EventMeta], ResultT],
) -> Callable[[HandlerT, EventT, EventMeta], ResultT]: ...
@overload
def on_event(
    method: Callable[[HandlerT, EventT], ResultT],
) -> Callable[[HandlerT, EventT], ResultT]: ...
def on_event(method: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a handler method (sync or async) called for each event of the annotated type(s).

    It takes `(self, event)` or `(self, event, meta: EventMeta)` and returns
    None; the annotation of `event` names an event class, a union of them, or
    a base class. mypy and pyright refuse other signatures; to them the
    callback keeps its parameter types but not their names.
    """
    setattr(method, _ON_EVENT_MARK, True)
    return method


class EventHandler:
    """Base class of event handlers.

    `name` is the bookmark name (the class name by default); `streams`
    limits or widens the streams read (by default, every stream that holds an
    event type the handler's `@on_event` methods take):

    ```python
    class PostsModel(EventHandler, name="posts-model"):
        @on_event
        async def created(self, event: PostCreated, meta: EventMeta) -> None: ...
    ```

    `reads_metadata=False` declares that the handler asks no `EventMeta` for an
    event id, correlation or causation id or metadata, and runs no commands: its
    reads then leave them out (less work an event on a SQL store), and asking for
    them raises `MetadataNotRead`.

    Override the hooks to act around batches and on failures.
    """

    __handler_name__: ClassVar[str]
    __handler_streams__: ClassVar[tuple[str, ...] | None]
    __handler_reads_metadata__: ClassVar[bool] = True

    version: int = 1
    """The version of the read model this handler builds, set by its runner.

    1 unless the runner is `versioned` (`Domain.handler(..., versioned=True)`) or
    builds another version for a blue/green rebuild: name the read model's tables
    after it (`f"posts_v{self.version}"`) so that two versions can live side by side.
    """

    def __init_subclass__(
        cls,
        *,
        name: str | None = None,
        streams: Sequence[str] | None = None,
        reads_metadata: bool | None = None,
    ) -> None:
        super().__init_subclass__()
        if reads_metadata is not None:
            if not isinstance(reads_metadata, bool):
                raise DefinitionError(
                    f"handler {cls.__qualname__}: reads_metadata is True or False, "
                    f"not {reads_metadata!r}"
                )
            cls.__handler_reads_metadata__ = reads_metadata
        cls.__handler_name__ = name or cls.__dict__.get("__handler_name__", cls.__name__)
        problem = id_problem(cls.__handler_name__)
        if problem is not None:
            raise DefinitionError(
                f"handler {cls.__qualname__}: its name {problem} (it is stored as the "
                "bookmark's name)"
            )
        if isinstance(streams, str):
            raise DefinitionError(f"handler {cls.__qualname__}: streams is a list of names")
        if streams is not None:
            cls.__handler_streams__ = tuple(streams)
        elif "__handler_streams__" not in cls.__dict__:
            cls.__handler_streams__ = getattr(cls, "__handler_streams__", None)

    async def before_batch(self, events: Sequence[StoredEvent[Event]]) -> None:
        """Called before a batch's events are handled."""

    async def after_batch(self, events: Sequence[StoredEvent[Event]]) -> Awaitable[None] | None:
        """Called after every event of a batch was handled, before the bookmark is stored.

        It may return an awaitable that completes once the batch's effects are done
        elsewhere (a relay's broker acknowledgements): the runner then goes on with the
        next batches meanwhile, a few at most, and moves the bookmark past a batch only
        once its awaitable, and those of the batches before it, have completed. If one
        raises, the run ends with that error and the bookmark stays before its batch.
        """
        return None

    async def on_error(self, error: Exception, event: Event | None, meta: EventMeta) -> None:
        """Called, with `continue_on_error`, for an event that failed; then the handler goes on.

        `event` is None when the stored event could not be decoded (its payload does
        not fit its class, or does not parse): `error` is then the `EventDecodeError`
        naming it. Logs by default.
        """
        log.error(
            "handler %s: %s at position %d failed: %r",
            self.__handler_name__,
            meta.type_name,
            meta.position,
            error,
            extra=_telemetry.event_ids(self.__handler_name__, meta),
        )

    async def on_reset(self) -> None:
        """Called by `HandlerRunner.reset()` and `rebuild()`: clear the read model here.

        A `TransactionalHandler` has `self.connection` here, in a transaction of its own.
        """

    async def on_drop(self) -> None:
        """Called by `HandlerRunner.drop()`: remove the read model of `self.version`.

        After a blue/green rebuild made another version live: drop this version's
        tables. A `TransactionalHandler` has `self.connection` here, as in `on_reset`.
        """


C = TypeVar("C")


class TransactionalHandler(EventHandler, Generic[C]):
    """A handler whose writes commit in one transaction with its bookmark.

    For read models in the same SQL database as the bookmarks: each batch runs
    in one transaction of the bookmark store; the callbacks write through
    `self.connection`, and the bookmark moves in that same transaction. A
    failure rolls the whole batch back, so a crash or a re-run never applies an
    event twice. With `continue_on_error`, each event runs in a savepoint and a
    failing one is rolled back alone. `C` is the store's connection type
    (`sqlalchemy.ext.asyncio.AsyncConnection` for `SqlAlchemyBackend`,
    `asyncpg.Connection` for `PostgresBackend`, `sqlite3.Connection` for
    `SqliteBackend`).
    """

    __connection: ContextVar[C | None] | None = None

    @property
    def connection(self) -> C:
        """The connection of the batch being handled (only valid inside a batch)."""
        var = self.__connection
        connection = None if var is None else var.get(None)
        if connection is None:
            raise RuntimeError(
                f"{type(self).__qualname__}.connection is only available while a batch runs"
            )
        return connection

    def attach(self, connection: C | None) -> None:
        """Set (or, with None, clear) the batch's connection: the runner's job.

        Set for the task running the batch only, so that batches of a partitioned
        handler's buckets can run at once, each on its own connection.
        """
        var = self.__connection
        if var is None:
            var = self.__connection = ContextVar(f"connection of {type(self).__qualname__}")
        var.set(connection)


@attrs.frozen
class Callback:
    """One `@on_event` method, bound to its handler."""

    function: Callable[..., Any]
    takes_meta: bool


def callbacks_of(handler: EventHandler, classes: Mapping[str, type[Event]]) -> dict[str, Callback]:
    """The handler's callbacks by the stored type names they take, of the event `classes`.

    `classes` are a domain's event classes by type name.
    """
    cls = type(handler)
    by_type: dict[str, Callback] = {}
    owners: dict[str, str] = {}
    seen: set[str] = set()
    for klass in cls.__mro__:
        for name, value in vars(klass).items():
            if name in seen or not getattr(value, _ON_EVENT_MARK, False):
                continue
            seen.add(name)
            events, takes_meta = event_parameter(cls, name, value, "event handler")
            callback = Callback(getattr(handler, name), takes_meta)
            for event in events:
                names = [t for t, c in classes.items() if issubclass(c, event)]
                if not names:
                    raise DefinitionError(
                        f"event handler {cls.__qualname__}.{name} takes {event.__qualname__}, "
                        "which no aggregate of the domain stores"
                    )
                for type_name in names:
                    if type_name in owners:
                        raise DefinitionError(
                            f"{cls.__qualname__} has two handlers for {type_name}: "
                            f"{owners[type_name]} and {name}"
                        )
                    owners[type_name] = name
                    by_type[type_name] = callback
    if not by_type:
        raise DefinitionError(f"event handler {cls.__qualname__} has no @on_event methods")
    return by_type


def streams_read(
    handler: EventHandler,
    callbacks: Mapping[str, Callback],
    classes: Mapping[str, type[Event]],
    streams: StreamMap,
) -> tuple[str, ...]:
    """The streams `handler` reads: those it names, or those its `callbacks` take events of.

    `classes` are the domain's event classes by type name and `streams` its stream map.
    """
    named = handler.__handler_streams__
    if named is None:
        found: set[str] = set()
        for type_name in callbacks:
            found |= streams.streams_of(classes[type_name])
        named = tuple(sorted(found))
    unknown = sorted(set(named) - streams.streams)
    if unknown:
        raise DefinitionError(
            f"handler {handler.__handler_name__!r} reads streams {unknown}, which no aggregate "
            "of the domain uses"
        )
    return tuple(named)
