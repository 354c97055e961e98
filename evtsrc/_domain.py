"""The domain: a checked registry of aggregates over one backend."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Self, TypeVar

import cattrs

from ._aggregate import A, Aggregate
from ._cache import LRUCache
from ._codec import Codec
from ._converter import default_converter
from ._definition import AggregateSpec
from ._errors import DefinitionError
from ._events import Event
from ._group import HandlerGroup
from ._handlers import EventHandler
from ._repository import Repository
from ._retry import NO_RETRY, RetryPolicy
from ._runner import HandlerRunner
from ._streams import StreamMap
from .backends.base import Backend, BookmarkStore

H = TypeVar("H", bound=EventHandler)


DEFAULT_CACHE_SIZE = 1000
"""Aggregates per class a `Domain` keeps in memory unless told otherwise."""


class Domain:
    """Aggregates registered over a backend, checked when it is built.

    `Domain(backend, aggregates=[User, Post])` reads every aggregate's folds
    and commands and raises `DefinitionError` for anything
    inconsistent: two folds for one event type, a command that can return an
    event no fold applies, two aggregates on one stream, two event classes with
    one type name. `converter` replaces the cattrs converter for events and
    state; `retry` is the default retry policy of every repository;
    `cache_size` keeps that many aggregates per class in memory (0 = off), so
    a load folds only newer events and a command decides without reading; by
    default `DEFAULT_CACHE_SIZE`, for each class whose state can be stored as JSON.
    """

    def __init__(
        self,
        backend: Backend,
        aggregates: Iterable[type[Aggregate]],
        *,
        converter: cattrs.Converter | None = None,
        retry: RetryPolicy = NO_RETRY,
        cache_size: int | None = None,
    ) -> None:
        if not isinstance(backend, Backend):
            raise TypeError(f"backend must be an evtsrc Backend, not {type(backend).__qualname__}")
        if cache_size is not None and cache_size < 0:
            raise ValueError(f"cache_size must be 0 (off) or more, not {cache_size}")
        self.backend = backend
        # Plain events skip cattrs only under evtsrc's own converter, whose hooks they match.
        self.codec = Codec(converter or default_converter(), (), plain=converter is None)
        self._specs: dict[type[Aggregate], AggregateSpec[Any]] = {}
        streams: dict[str, type[Aggregate]] = {}
        for cls in aggregates:
            spec: AggregateSpec[Any] = AggregateSpec(cls)
            if cls in self._specs:
                raise DefinitionError(f"aggregate {cls.__qualname__} is registered twice")
            other = streams.get(spec.stream)
            if other is not None:
                raise DefinitionError(
                    f"aggregates {other.__qualname__} and {cls.__qualname__} both use stream "
                    f"{spec.stream!r}"
                )
            streams[spec.stream] = cls
            self._specs[cls] = spec
        if not self._specs:
            raise DefinitionError("a Domain needs at least one aggregate")
        self._bound: list[HandlerRunner[Any] | HandlerGroup[Any]] = []
        self._streams = StreamMap()
        for spec in self._specs.values():
            events = spec.event_classes
            for event in events:
                self.codec.register(event)
            self._streams.add(spec.stream, events)
        size = DEFAULT_CACHE_SIZE if cache_size is None else cache_size
        loader = DomainLoader(self)
        self._repositories: dict[type[Aggregate], Repository[Any]] = {
            cls: Repository(
                spec,
                backend=backend,
                codec=self.codec,
                loader=loader,
                retry=retry,
                cache=LRUCache(size) if size else None,
                cache_optional=cache_size is None,
            )
            for cls, spec in self._specs.items()
        }

    def repository(self, cls: type[A]) -> Repository[A]:
        """The repository of aggregate class `cls`."""
        repository = self._repositories.get(cls)
        if repository is None:
            raise KeyError(f"aggregate {getattr(cls, '__qualname__', cls)!r} is not in this domain")
        return repository

    @property
    def aggregates(self) -> tuple[type[Aggregate], ...]:
        """The registered aggregate classes."""
        return tuple(self._specs)

    @property
    def handlers(self) -> tuple[HandlerRunner[EventHandler] | HandlerGroup[EventHandler], ...]:
        """The runners and groups bound here (`handler()`, `handler_group()`), in that order.

        The `evtsrc` command finds an application's handlers here.
        """
        return tuple(self._bound)

    def streams_of(self, event: type[Event]) -> frozenset[str]:
        """The streams that events of class `event` (or its subclasses) are stored in."""
        return self._streams.streams_of(event)

    def handler(
        self,
        handler: H,
        *,
        bookmarks: BookmarkStore | None = None,
        tail_stream: bool = False,
        always_tail_stream: bool = False,
        continue_on_error: bool = False,
        batch_size: int = 1000,
        poll_interval: float = 1.0,
        standby_interval: float = 1.0,
        retry: RetryPolicy | None = None,
        park: bool = False,
        versioned: bool = False,
    ) -> HandlerRunner[H]:
        """Bind an event handler to this domain's events; see `HandlerRunner`.

        `versioned` makes the runner build the live version of the handler's read
        model and switch when another is made live (a blue/green rebuild).
        """
        runner = HandlerRunner(
            handler,
            backend=self.backend,
            codec=self.codec,
            streams=self._streams,
            standby_interval=standby_interval,
            bookmarks=bookmarks,
            tail_stream=tail_stream,
            always_tail_stream=always_tail_stream,
            continue_on_error=continue_on_error,
            batch_size=batch_size,
            poll_interval=poll_interval,
            retry=retry,
            park=park,
            versioned=versioned,
        )
        self._bound.append(runner)
        return runner

    def handler_group(
        self,
        handler: H,
        *,
        buckets: int,
        concurrency: int = 1,
        member_ttl: float = 10.0,
        bookmarks: BookmarkStore | None = None,
        continue_on_error: bool = False,
        batch_size: int = 1000,
        poll_interval: float = 1.0,
        retry: RetryPolicy | None = None,
        park: bool = False,
    ) -> HandlerGroup[H]:
        """Bind an event handler to this domain's events, partitioned; see `HandlerGroup`."""
        group = HandlerGroup(
            handler,
            backend=self.backend,
            codec=self.codec,
            streams=self._streams,
            buckets=buckets,
            concurrency=concurrency,
            member_ttl=member_ttl,
            bookmarks=bookmarks,
            continue_on_error=continue_on_error,
            batch_size=batch_size,
            poll_interval=poll_interval,
            retry=retry,
            park=park,
        )
        self._bound.append(group)
        return group

    async def close(self) -> None:
        """Stop the runners and groups made here that still run, then close the backend.

        Every one is stopped even if stopping another raised; the first error is raised
        once the backend is closed.
        """
        failure: BaseException | None = None
        for bound in list(self._bound):
            try:
                if bound.running:
                    await bound.stop()
            except Exception as error:
                failure = failure or error
        try:
            await self.backend.close()
        finally:
            if failure is not None:
                raise failure

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """`close()` as the block ends."""
        await self.close()


class DomainLoader:
    """Loads any aggregate of a domain: what its commands' `Aggregate.load` calls use."""

    def __init__(self, domain: Domain) -> None:
        self._domain = domain

    async def load(self, cls: type[A], aggregate_id: str, /) -> A:
        """The aggregate as its repository in the domain loads it."""
        return await self._domain.repository(cls).load(aggregate_id)
