"""Event handlers: projections and process managers that follow streams in global order."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import attrs

from .aggregate import F
from .backends.base import BookmarkStore, EventRecord
from .codec import decode_record, meta_of
from .definition import event_parameter
from .errors import DefinitionError, EventDecodeError, HandlerError
from .events import Event, EventMeta, StoredEvent

if TYPE_CHECKING:
    from .domain import Domain

log = logging.getLogger("evtsrc.handlers")
_ON_EVENT_MARK = "__evtsrc_on_event__"
MAX_BACKOFF = 30.0


def on_event(method: F) -> F:
    """Mark a handler method (sync or async) called for each event of the annotated type(s).

    It takes `(self, event)` or `(self, event, meta)`; the annotation of
    `event` names the event class or a union of them.
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

    Override the hooks to act around batches and on failures.
    """

    __handler_name__: ClassVar[str]
    __handler_streams__: ClassVar[tuple[str, ...] | None]

    def __init_subclass__(
        cls, *, name: str | None = None, streams: Sequence[str] | None = None, **kwargs: Any
    ) -> None:
        super().__init_subclass__(**kwargs)
        cls.__handler_name__ = name or cls.__dict__.get("__handler_name__", cls.__name__)
        if isinstance(streams, str):
            raise DefinitionError(f"handler {cls.__qualname__}: streams is a list of names")
        if streams is not None:
            cls.__handler_streams__ = tuple(streams)
        elif "__handler_streams__" not in cls.__dict__:
            cls.__handler_streams__ = getattr(cls, "__handler_streams__", None)

    async def before_batch(self, events: Sequence[StoredEvent[Event]]) -> None:
        """Called before a batch's events are handled."""

    async def after_batch(self, events: Sequence[StoredEvent[Event]]) -> None:
        """Called after every event of a batch was handled, before the bookmark is stored."""

    async def on_error(self, error: Exception, event: Event | None, meta: EventMeta) -> None:
        """Called, with `continue_on_error`, for an event that failed; then the handler goes on.

        `event` is None when the stored event could not be decoded. Logs by default.
        """
        log.error(
            "handler %s: %s at position %d failed: %r",
            self.__handler_name__,
            meta.type_name,
            meta.position,
            error,
        )

    async def on_reset(self) -> None:
        """Called by `HandlerRunner.reset()`: clear the read model here."""


H = TypeVar("H", bound=EventHandler)


@attrs.frozen
class _Callback:
    function: Callable[..., Any]
    takes_meta: bool


def _callbacks(handler: EventHandler, domain: Domain) -> dict[str, _Callback]:
    cls = type(handler)
    by_type: dict[str, _Callback] = {}
    owners: dict[str, str] = {}
    seen: set[str] = set()
    for klass in cls.__mro__:
        for name, value in vars(klass).items():
            if name in seen or not getattr(value, _ON_EVENT_MARK, False):
                continue
            seen.add(name)
            events, takes_meta = event_parameter(cls, name, value, "event handler")
            callback = _Callback(getattr(handler, name), takes_meta)
            for event in events:
                names = [t for t, c in domain.codec.classes.items() if issubclass(c, event)]
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


class HandlerRunner(Generic[H]):
    """Feeds a handler the events of its streams in global order, keeping its bookmark.

    Delivery is at least once: the bookmark is stored after each batch, and
    never past an event that was not handled, so after a crash a batch may be
    handled again but no event is skipped. Get one from `Domain.handler()`.

    Options: `tail_stream` starts a handler whose bookmark is 0 at the end of its
    streams; `always_tail_stream` starts at the end whenever the runner starts
    (its first run, every `start()`, and after `reset()`); `continue_on_error`
    reports a failing event to `EventHandler.on_error()` and goes on, where
    otherwise the handler stops at it and `run_once()` raises `HandlerError`.
    """

    def __init__(
        self,
        domain: Domain,
        handler: H,
        *,
        bookmarks: BookmarkStore | None = None,
        tail_stream: bool = False,
        always_tail_stream: bool = False,
        continue_on_error: bool = False,
        batch_size: int = 100,
        poll_interval: float = 1.0,
    ) -> None:
        if not isinstance(handler, EventHandler):
            raise TypeError(f"{handler!r} is not an EventHandler")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        if poll_interval <= 0:
            raise ValueError(f"poll_interval must be positive, not {poll_interval}")
        self.handler: H = handler
        """The handler this runner feeds."""
        self.name = handler.__handler_name__
        self._domain = domain
        self._callbacks = _callbacks(handler, domain)
        streams = handler.__handler_streams__
        if streams is None:
            found: set[str] = set()
            for type_name in self._callbacks:
                found |= domain.streams_of(domain.codec.classes[type_name])
            streams = tuple(sorted(found))
        known = {domain.repository(a).stream for a in domain.aggregates}
        unknown = sorted(set(streams) - known)
        if unknown:
            raise DefinitionError(
                f"handler {self.name!r} reads streams {unknown}, which no aggregate of the "
                "domain uses"
            )
        self.streams: tuple[str, ...] = tuple(streams)
        self._backend = domain.backend
        self._bookmarks: BookmarkStore = bookmarks if bookmarks is not None else domain.backend
        self._tail = tail_stream
        self._always_tail = always_tail_stream
        self._continue = continue_on_error
        self._batch_size = batch_size
        self._poll = poll_interval
        self._position: int | None = None
        self._lock: asyncio.Lock | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._waiting = False
        self.last_error: BaseException | None = None
        """The error of the last failed run in the background, if any."""

    @property
    def running(self) -> bool:
        """Whether `start()` launched a loop that has not stopped."""
        return self._task is not None and not self._task.done()

    async def position(self) -> int:
        """The position of the last event handled (its bookmark)."""
        if self._position is not None:
            return self._position
        return await self._bookmarks.get_bookmark(self.name)

    async def set_position(self, position: int) -> None:
        """Move the bookmark: the next run handles events after `position`."""
        if position < 0:
            raise ValueError(f"a position is 0 or more, not {position}")
        async with self._guard():
            await self._save(position)

    async def reset(self) -> None:
        """Start over: call the handler's `on_reset` and move the bookmark to 0.

        With `always_tail_stream` the next run starts at the end instead.
        """
        async with self._guard():
            await self.handler.on_reset()
            await self._save(0)
            self._position = None

    async def run_once(self) -> int:
        """Handle events until caught up (or `stop()` is called between two batches).

        Returns how many events a callback handled without raising.
        """
        async with self._guard():
            position = await self._start_position()
            handled = 0
            while not self._stop_requested():
                records = await self._backend.read_streams(
                    self.streams, after_position=position, limit=self._batch_size
                )
                if not records:
                    return handled
                handled += await self._batch(records, position)
                position = records[-1].position
                await self._save(position)
                if len(records) < self._batch_size:
                    return handled
            return handled

    async def _batch(self, records: Sequence[EventRecord], position: int) -> int:
        todo: list[tuple[EventRecord, _Callback, StoredEvent[Event] | Exception]] = []
        for record in records:
            callback = self._callbacks.get(record.type)
            if callback is None:
                continue
            try:
                item: StoredEvent[Event] | Exception = StoredEvent(
                    decode_record(self._domain.codec, record), meta_of(record)
                )
            except EventDecodeError as error:
                item = error
            todo.append((record, callback, item))
        if not todo:
            return 0
        events = [item for _, _, item in todo if isinstance(item, StoredEvent)]
        await self.handler.before_batch(events)
        done: list[StoredEvent[Event]] = []
        for record, callback, item in todo:
            try:
                if isinstance(item, Exception):
                    raise item
                result = (
                    callback.function(item.event, item.meta)
                    if callback.takes_meta
                    else callback.function(item.event)
                )
                if inspect.isawaitable(result):
                    await result
                done.append(item)
            except Exception as error:
                if not self._continue:
                    # What was handled stays handled: flush it, then bookmark just before
                    # the failing event. If the flush fails, the bookmark stays put.
                    await self.handler.after_batch(done)
                    await self._save(max(position, _before(records, record)))
                    raise HandlerError(self.name, record.position, record.type, error) from error
                event = item.event if isinstance(item, StoredEvent) else None
                await self.handler.on_error(error, event, meta_of(record))
        await self.handler.after_batch(events)
        return len(done)

    async def _start_position(self) -> int:
        if self._position is not None:
            return self._position
        if self._always_tail:
            position = await self._backend.last_position(self.streams)
            await self._save(position)
            return position
        position = await self._bookmarks.get_bookmark(self.name)
        if position == 0 and self._tail:
            position = await self._backend.last_position(self.streams)
            await self._save(position)
        self._position = position
        return position

    async def _save(self, position: int) -> None:
        await self._bookmarks.set_bookmark(self.name, position)
        self._position = position

    def _guard(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    async def start(self) -> None:
        """Run the handler in the background until `stop()`.

        It catches up, then waits for new events: woken by the backend where it
        can push, else every `poll_interval` seconds. A failing run is retried
        from the failing event after a growing delay.
        """
        if self.running:
            raise RuntimeError(f"handler {self.name!r} is already running")
        async with self._guard():
            if self._always_tail:
                self._position = None
            # Fix where to start before returning, so no event appended after start()
            # returns can fall before a tailing handler's starting point.
            await self._start_position()
        self._stopping = False
        self._task = asyncio.get_running_loop().create_task(
            self._loop(), name=f"evtsrc handler {self.name}"
        )

    async def stop(self) -> None:
        """Stop the background loop after its current batch, and wait for it to end.

        A `run_once()` in progress also returns after its current batch.
        """
        task = self._task
        if task is None:
            return
        self._stopping = True
        if self._waiting:
            task.cancel()
        await asyncio.wait([task])
        self._task = None
        self._stopping = False
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]

    def _stop_requested(self) -> bool:
        return self._stopping

    async def _loop(self) -> None:
        listener = await self._backend.listen(self.streams)
        failures = 0
        try:
            while not self._stop_requested():
                delay = self._poll
                try:
                    await self.run_once()
                    failures = 0
                except Exception as error:
                    failures += 1
                    self.last_error = error
                    delay = min(self._poll * 2**failures, MAX_BACKOFF)
                    log.exception("handler %s failed; retrying in %.1f s", self.name, delay)
                if self._stop_requested():
                    break
                self._waiting = True
                try:
                    await listener.wait(delay)
                finally:
                    self._waiting = False
        finally:
            await listener.close()


def _before(records: Sequence[EventRecord], record: EventRecord) -> int:
    index = records.index(record)
    return records[index - 1].position if index else 0
