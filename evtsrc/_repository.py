"""Loading aggregates and running their commands under optimistic concurrency."""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Concatenate, Generic, ParamSpec, cast

import attrs

from . import _telemetry
from ._aggregate import A, AggregateLoader, Decision, command_loader
from ._cache import LRUCache
from ._codec import Codec, StateCodec
from ._context import current as current_context
from ._context import next_once, stored_metadata
from ._definition import AggregateSpec, CommandSpec, Fold
from ._errors import (
    AlreadyProcessed,
    CorruptStreamError,
    DefinitionError,
    EventDecodeError,
    EventEncodeError,
    InvalidAggregateId,
    VersionConflict,
)
from ._events import Event, StoredEvent
from ._jsontypes import JSONObject
from ._meta import CORRELATION_ID, meta_of
from ._plain import RecordDecoder
from ._retry import NO_RETRY, RetryPolicy
from ._storable import id_problem
from .backends.base import (
    Backend,
    EventRecord,
    NewEvent,
    Once,
    SnapshotRecord,
    accepts_keyword,
    new_event_id,
)

P = ParamSpec("P")
log = logging.getLogger("evtsrc")

PAGE = 1000


@attrs.frozen(slots=True)
class _Cached:
    version: int
    last_position: int
    state: JSONObject


_Step = tuple[RecordDecoder, Callable[[Any, Event], None]]
"""How a load folds one plain event type: its fast decoder of records (at the class's own
version: older ones are upcast first), then its fold (without meta)."""


class Repository(Generic[A]):
    """Loads one aggregate class and runs its commands. Get one from `Domain.repository()`."""

    def __init__(
        self,
        spec: AggregateSpec[A],
        *,
        backend: Backend,
        codec: Codec,
        loader: AggregateLoader,
        retry: RetryPolicy = NO_RETRY,
        cache: LRUCache[str, _Cached] | None = None,
        cache_optional: bool = False,
    ) -> None:
        self._spec = spec
        self._backend = backend
        self._codec = codec
        self._loader = loader
        # State is encoded only for snapshots and the cache, so only they need it storable;
        # the default cache is left out for a state that is not.
        self._state: StateCodec | None = None
        if spec.snapshot_every or cache is not None:
            try:
                self._state = StateCodec(codec.converter, spec.cls, plain=codec.plain)
            except DefinitionError:
                if spec.snapshot_every or not cache_optional:
                    raise
                cache = None
        self._retry = retry
        self._cache = cache
        self._folds: dict[type[Event], Fold] = {}  # by exact event class, filled as met
        self._steps: dict[str, _Step] = {}  # by type name: plain events folded without meta
        self._bare = accepts_keyword(backend.read_aggregate, "meta") and not any(
            f.takes_meta for f in spec.folds.values()
        )
        """Whether loads read with `meta=False`, no more than the folds need: unless a fold
        takes meta, or the backend predates the option."""
        self.aggregate = spec.cls
        """The aggregate class this repository serves."""
        self.stream = spec.stream
        """The stream its events are stored in."""

    def with_retry(self, policy: RetryPolicy) -> Repository[A]:
        """The same repository, re-running commands on VersionConflict as `policy` says."""
        return Repository(
            self._spec,
            backend=self._backend,
            codec=self._codec,
            loader=self._loader,
            retry=policy,
            cache=self._cache,
        )

    async def load(self, aggregate_id: str) -> A:
        """The aggregate's current state; version 0 if it was never written."""
        _check_id(aggregate_id)
        aggregate, _ = await self._load(aggregate_id)
        return aggregate

    async def history(
        self, aggregate_id: str, *, after_version: int = 0
    ) -> list[StoredEvent[Event]]:
        """The aggregate's stored events after `after_version`, oldest first, with their meta."""
        _check_id(aggregate_id)
        found: list[StoredEvent[Event]] = []
        while True:
            page = await self._backend.read_aggregate(
                self.stream, aggregate_id, after_version=after_version, limit=PAGE
            )
            for record in page:
                found.append(StoredEvent(self._codec.decode_record(record), meta_of(record)))
            if len(page) < PAGE:
                return found
            after_version = page[-1].version

    async def execute(
        self,
        aggregate_id: str,
        command: Callable[Concatenate[A, P], Decision | Awaitable[Decision]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> A:
        """Run `command` (e.g. `User.create`) on the aggregate and return its new state.

        Loads the aggregate, calls the command with `args`/`kwargs`, and
        appends the events it returns atomically, expecting the version it
        loaded. Raises `VersionConflict` when another writer
        appended first (after the retries of this repository's policy) and
        `CommandError` when the command refuses.
        """
        spec = self._command_spec(command)
        try:
            spec.check_arguments(args, kwargs)
        except TypeError as error:
            raise TypeError(f"{self.aggregate.__qualname__}.{spec.name}(): {error}") from None
        _check_id(aggregate_id)
        once = next_once()  # the same for each try of this command
        attempt = 1
        trust_cache = True
        started = self._retry.clock()
        recorder = _telemetry.active
        if recorder is None or not recorder.ready():  # off, or no SDK to record to yet
            probe = None
        else:
            probe = self._probe(recorder, spec, aggregate_id)
        try:
            while True:
                cached = self._cache.get(aggregate_id) if trust_cache and self._cache else None
                if cached is not None:
                    # Decide on the cached state without reading: if another writer got
                    # further, the append conflicts and the command runs again on fresh state.
                    aggregate = self._restore(aggregate_id, cached.version, cached.state)
                    aggregate.last_position = cached.last_position
                    snapshot_version = None
                else:
                    aggregate, snapshot_version = await self._load(aggregate_id)
                try:
                    aggregate = await self._run(
                        aggregate,
                        spec,
                        snapshot_version,
                        args,
                        kwargs,
                        unverified=cached is not None,
                        once=once,
                        probe=probe,
                    )
                except AlreadyProcessed:  # an inbox's message delivered again: done before
                    if self._cache is not None:
                        self._cache.discard(aggregate_id)
                    aggregate, _ = await self._load(aggregate_id)
                except _StaleCache:
                    trust_cache = False
                    continue
                except VersionConflict:
                    if cached is not None:
                        trust_cache = False
                        if probe is not None:
                            probe.conflicted(retrying=True)
                        continue
                    wait = self._retry.next_delay(attempt, self._retry.clock() - started)
                    if probe is not None:
                        probe.conflicted(retrying=wait is not None)
                    if wait is None:
                        raise
                    await asyncio.sleep(wait)
                    attempt += 1
                    continue
                break
        except BaseException as error:
            if probe is not None:
                probe.end(error)
            raise
        if probe is not None:
            probe.end(None, aggregate.version)
        return aggregate

    def _probe(
        self, recorder: _telemetry.Recorder, spec: CommandSpec, aggregate_id: str
    ) -> _telemetry.CommandProbe:
        """The span and measurements of a command starting now (telemetry records)."""
        try:
            cause = current_context()
        except Exception:  # (a handler that reads no metadata: its command will say so)
            cause = None
        return recorder.command(
            self.aggregate.__qualname__,
            self.stream,
            spec.name,
            aggregate_id,
            cause.correlation_id if cause is not None else None,
        )

    def _command_spec(self, command: Callable[..., Any]) -> CommandSpec:
        spec = self._spec.functions.get(command)
        if spec is None:
            name = getattr(command, "__qualname__", repr(command))
            raise TypeError(f"{name} is not a @command of {self.aggregate.__qualname__}")
        return spec

    async def _load(self, aggregate_id: str) -> tuple[A, int | None]:
        """The aggregate and its usable snapshot's version (None: not looked up).

        The caller has checked `aggregate_id`.
        """
        aggregate: A | None = None
        snapshot_version: int | None = None
        cached = self._cache.get(aggregate_id) if self._cache is not None else None
        if cached is not None:
            aggregate = self._restore(aggregate_id, cached.version, cached.state)
            aggregate.last_position = cached.last_position
        elif self._spec.snapshot_every:
            snapshot_version = 0
            snapshot = await self._backend.get_snapshot(self.stream, aggregate_id)
            if snapshot is not None and snapshot.key == self._spec.snapshot_key:
                aggregate = self._restore(aggregate_id, snapshot.version, snapshot.state)
                snapshot_version = snapshot.version
            elif snapshot is not None:
                log.info(
                    "ignoring the snapshot of %s/%s stored under key %r (current key %r)",
                    self.stream,
                    aggregate_id,
                    snapshot.key,
                    self._spec.snapshot_key,
                    extra=_telemetry.aggregate_ids(self.stream, aggregate_id),
                )
        if aggregate is None:
            aggregate = self._restore(aggregate_id, 0, None)
        await self._fold_pages(aggregate)
        if cached is None or cached.version != aggregate.version:
            self._remember(aggregate)
        return aggregate, snapshot_version

    async def _fold_pages(self, aggregate: A) -> None:
        """Fold the stored events after the aggregate's version, a page at a time.

        On a backend that `reads_ahead`, the next page is requested before a full
        page is folded, so the database's work overlaps the fold.
        """
        stream, aggregate_id = self.stream, aggregate.id
        read = self._backend.read_aggregate
        if self._bare:
            read = functools.partial(read, meta=False)
        ahead = self._backend.reads_ahead
        page = await read(stream, aggregate_id, after_version=aggregate.version, limit=PAGE)
        while len(page) == PAGE:
            if not ahead:
                self._fold_records(aggregate, page)
                page = await read(stream, aggregate_id, after_version=aggregate.version, limit=PAGE)
                continue
            following = asyncio.ensure_future(
                read(stream, aggregate_id, after_version=page[-1].version, limit=PAGE)
            )
            try:
                await asyncio.sleep(0)  # let the request leave before the fold holds the loop
                self._fold_records(aggregate, page)
            except BaseException:
                following.cancel()  # and wait for it: no read outlives the load
                await asyncio.wait((following,))
                raise
            page = await following
        self._fold_records(aggregate, page)

    def _restore(self, aggregate_id: str, version: int, state: JSONObject | None) -> A:
        aggregate: A
        if state is None:
            aggregate = self.aggregate()  # pyright: ignore[reportAssignmentType]
        else:
            try:
                assert self._state is not None
                aggregate = cast(A, self._state.decode(state))
            except Exception as error:
                raise EventDecodeError(
                    f"stored state of {self.aggregate.__qualname__} does not match its fields: "
                    f"{error}",
                    stream=self.stream,
                    aggregate_id=aggregate_id,
                    version=version,
                ) from error
        aggregate.id = aggregate_id
        aggregate.version = version
        return aggregate

    def _fold_records(self, aggregate: A, records: Sequence[EventRecord]) -> None:
        # The hot path of every load. Most events are plain and their folds take no meta:
        # those go through a step learnt from the first one, one lookup and two calls.
        # The position is set once per page, after the fold of its last event.
        steps = self._steps
        for record in records:
            if record.version != aggregate.version + 1:
                raise CorruptStreamError(
                    f"{record.stream}/{record.aggregate_id}: version {record.version} follows "
                    f"version {aggregate.version}; versions must be consecutive from 1"
                )
            step = steps.get(record.type)
            if step is not None:
                event = step[0](record)
                if event is not None:
                    step[1](aggregate, event)
                    aggregate.version = record.version
                    continue
            self._fold(aggregate, self._codec.decode_record(record), record)
        if records:
            aggregate.last_position = records[-1].position

    def _fold(self, aggregate: A, event: Event, record: EventRecord) -> None:
        fold = self._folds.get(type(event)) or self._fold_of(type(event), record)
        if fold.takes_meta:
            fold.function(aggregate, event, meta_of(record))
        else:
            fold.function(aggregate, event)
        aggregate.version = record.version

    def _fold_of(self, event_cls: type[Event], record: EventRecord) -> Fold:
        """The fold for `event_cls`, remembered for the next event of that class."""
        fold = self._spec.fold_for(event_cls)
        if fold is None:
            raise EventDecodeError(
                f"stored event {record.type!r} has no fold in {self.aggregate.__qualname__}",
                stream=record.stream,
                aggregate_id=record.aggregate_id,
                version=record.version,
                type_name=record.type,
                position=record.position,
            )
        self._folds[event_cls] = fold
        fast = self._codec.fast_step(record.type)
        if fast is not None and not fold.takes_meta:
            self._steps[record.type] = (fast, fold.function)
        return fold

    async def _run(
        self,
        aggregate: A,
        spec: CommandSpec,
        snapshot_version: int | None,
        args: Any,
        kwargs: Any,
        *,
        unverified: bool,
        once: Once | None,
        probe: _telemetry.CommandProbe | None,
    ) -> A:
        loading = command_loader.set(self._loader)  # what `Aggregate.load` loads through
        try:
            decision = spec.function(aggregate, *args, **kwargs)
            if inspect.isawaitable(decision):
                decision = await decision
            events = self._spec.decided_events(spec, decision)
        except Exception:
            if unverified:  # refused on cached state: ask again on the stored state
                raise _StaleCache from None
            raise
        finally:
            command_loader.reset(loading)
        if not events:
            if unverified:  # nothing to do on cached state: the stored state may differ
                raise _StaleCache
            return aggregate
        now = datetime.now(UTC)
        new_events: list[NewEvent] = []
        as_read: list[Event] = []  # the events as a later load will read them
        metadata: JSONObject | None = None
        for event in events:
            type_name, data, read = self._codec.encode_decided(event, self.aggregate, spec.name)
            as_read.append(read)
            event_id = new_event_id()
            if metadata is None:  # the first event's id names a correlation this command starts
                metadata = stored_metadata(current_context(), event_id)
            version = type(event).__event_version__
            new_events.append(NewEvent(type_name, data, now, event_id, version, metadata))
        before = aggregate.version
        if once is None:  # (a backend written before inboxes takes no `once`)
            appending = self._backend.append(self.stream, aggregate.id, before, new_events)
        else:
            appending = self._backend.append(
                self.stream, aggregate.id, before, new_events, once=once
            )
        if probe is None:
            records = await appending
        else:
            records = await probe.append(appending, self.stream, aggregate.id, before, new_events)
        for event, record in zip(as_read, records, strict=True):
            self._fold(aggregate, event, record)
        aggregate.last_position = records[-1].position
        every = self._spec.snapshot_every
        if every and self._state is not None:
            # Store once `every` events have been folded on top of the stored snapshot (a
            # missing one or one of other fold code counts as version 0). Without having
            # looked (a cache hit), store when the version crosses a multiple of `every`.
            base = before - before % every if snapshot_version is None else snapshot_version
            if aggregate.version - base >= every:
                correlation = metadata.get(CORRELATION_ID) if metadata is not None else None
                await self._store_snapshot(aggregate, self._state, correlation)
        self._remember(aggregate)
        return aggregate

    async def _store_snapshot(self, aggregate: A, state: StateCodec, correlation: object) -> None:
        try:
            snapshot = SnapshotRecord(
                self.stream,
                aggregate.id,
                aggregate.version,
                self._spec.snapshot_key,
                state.encode(aggregate),  # EventEncodeError: not storable, so not sent
            )
            await self._backend.put_snapshot(snapshot)
        except Exception:
            log.warning(
                "could not store the snapshot of %s/%s at version %d; the events are "
                "stored and later loads fold them",
                self.stream,
                aggregate.id,
                aggregate.version,
                exc_info=True,
                extra=_telemetry.aggregate_ids(
                    self.stream, aggregate.id, version=aggregate.version, correlation_id=correlation
                ),
            )

    def _remember(self, aggregate: A) -> None:
        if self._cache is None or self._state is None:
            return
        try:
            state = self._state.encode(aggregate)
        except EventEncodeError as error:
            # Only the cache needs this state stored: go without it for this aggregate.
            self._cache.discard(aggregate.id)
            log.debug(
                "not caching %s/%s: %s",
                self.stream,
                aggregate.id,
                error,
                extra=_telemetry.aggregate_ids(self.stream, aggregate.id),
            )
            return
        self._cache.put(aggregate.id, _Cached(aggregate.version, aggregate.last_position, state))


class _StaleCache(Exception):
    """A command refused or did nothing on cached state, which may be behind the store."""


def _check_id(aggregate_id: object) -> None:
    problem = id_problem(aggregate_id)
    if problem is not None:
        raise InvalidAggregateId(f"an aggregate id {problem}")
