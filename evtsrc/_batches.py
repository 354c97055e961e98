"""Handling one batch of a handler's events: decoding, calling back, moving the bookmark."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
from collections.abc import Awaitable, Callable, Generator, Iterator, Mapping, Sequence
from typing import cast

from . import _telemetry
from ._batch_events import BatchEvents
from ._codec import Codec
from ._context import CURRENT, await_with_cause
from ._errors import EventDecodeError, HandlerError
from ._events import Event, StoredEvent
from ._handlers import Callback, EventHandler, TransactionalHandler
from ._in_flight import IN_FLIGHT, InFlight
from ._meta import EventMeta, meta_of, meta_without_metadata
from ._parking import Parking
from ._retry import RetryPolicy
from .backends.base import (
    BatchTransaction,
    BookmarkStore,
    Bucket,
    EventRecord,
    FencedBookmarks,
    ParkedAggregate,
    ParkingTransaction,
    TransactionalBookmarks,
)

_Item = tuple[EventRecord, Callback, Event | EventDecodeError]


class Bookmark:
    """A handler's bookmark in its store, and the position this process last knew it at."""

    def __init__(self, store: BookmarkStore, name: str) -> None:
        self.store = store
        self.name = name
        self.known: int | None = None
        """The position last read or written here; None when it must be read again."""
        self._fenced = store if isinstance(store, FencedBookmarks) else None

    async def read(self) -> int:
        """The stored position (without remembering it)."""
        return await self.store.get_bookmark(self.name)

    async def save(self, position: int) -> None:
        """Store `position` and remember it."""
        with self.unknown_on_failure():
            await self.store.set_bookmark(self.name, position)
        self.known = position

    async def advance(self, expected: int, position: int) -> None:
        """Move the bookmark from `expected`, where a batch started, to `position`.

        On a `FencedBookmarks` store only from `expected`: where another runner moved
        it since, raise `BookmarkMoved` and move nothing. Other stores just store it.
        """
        if position == expected:
            self.known = position
            return
        if self._fenced is None:
            await self.save(position)
            return
        with self.unknown_on_failure():
            await self._fenced.move_bookmark(self.name, expected, position)
        self.known = position

    @contextlib.contextmanager
    def unknown_on_failure(self) -> Generator[None]:
        """Forget the known position if the write in the block fails.

        A write whose reply was lost may have landed: the next run reads the bookmark
        again rather than start where the failed batch did (and find it moved).
        """
        try:
            yield
        except BaseException:
            self.known = None
            raise


class Batches:
    """Hands batches of records to one handler's callbacks and moves its bookmark past them.

    Delivery is at least once: the bookmark moves after each batch and never past
    an event that was not handled. With `transactions`, a batch instead runs in one
    transaction of the bookmark store, which moves the bookmark as it commits. With
    `retry`, a callback that raises is called again as the policy says before its
    event counts as failed (an event that cannot be decoded is not retried). With
    `parking`, a failed event's aggregate is parked and its later events skipped.

    Where `after_batch` returns an awaitable, the batch is in flight (`in_flight`):
    the next batches are handled meanwhile, and the bookmark moves past batches in
    order as they complete. Run the batches of one run in `in_flight.settling()`.
    """

    def __init__(
        self,
        handler: EventHandler,
        callbacks: Mapping[str, Callback],
        codec: Codec,
        bookmark: Bookmark,
        *,
        batch_size: int,
        continue_on_error: bool,
        transactions: TransactionalBookmarks[object] | None,
        retry: RetryPolicy | None = None,
        parking: Parking | None = None,
        bucket: Bucket | None = None,
        last_position: Callable[[], Awaitable[int]] | None = None,
    ) -> None:
        self._handler = handler
        self._name = handler.__handler_name__
        self._callbacks = callbacks
        self._codec = codec
        self._bookmark = bookmark
        self._continue = continue_on_error
        self._transactions = transactions
        self._retry = retry
        self._parking = parking
        self._set_aside: list[ParkedAggregate] = []
        """What a transactional batch parked, to store once it commits (where its
        transaction cannot park, as a `ParkingTransaction` does)."""
        self._hooks = _overrides(handler, "before_batch") or _overrides(handler, "after_batch")
        self._reads_metadata = handler.__handler_reads_metadata__
        self._meta_of = meta_of if self._reads_metadata else meta_without_metadata
        self.in_flight = InFlight(bookmark.advance, IN_FLIGHT * batch_size)
        """The batches whose bookmark move waits for what their `after_batch` returned."""
        self._bucket = bucket
        self._lag = None if last_position is None else _telemetry.Lag(last_position, batch_size)
        self._probe: _telemetry.BatchProbe | None = None
        """The span and measurements of the batch under way, while telemetry is on."""
        self._handled_before_failure = 0

    async def handle(self, records: Sequence[EventRecord], position: int) -> int:
        """Handle one batch, read after `position`, and move the bookmark past it.

        (Or leave it in flight, if `after_batch` returned something to wait for.)
        Returns how many events a callback handled without raising.
        """
        # What a callback appends has its event as the cause, and nothing else's (`_context`).
        outer = CURRENT.set(None)
        try:
            recorder = _telemetry.active
            if recorder is None:
                return await self._handle(records, position)
            return await self._observed(recorder, records, position)
        finally:
            CURRENT.reset(outer)

    async def _observed(
        self, recorder: _telemetry.Recorder, records: Sequence[EventRecord], position: int
    ) -> int:
        """`_handle` in a span, measured, and the handler's lag told after it."""
        if not recorder.ready():
            return await self._handle(records, position)
        probe = self._probe = recorder.batch(self._name, self._bucket, records)
        self._handled_before_failure = 0
        try:
            handled = await self._handle(records, position)
        except BaseException as error:
            self._probe = None
            probe.end(self._handled_before_failure, error)
            if isinstance(error, Exception):
                await self._tell_lag(recorder, records, position)
            raise
        self._probe = None
        probe.end(handled, None)
        await self._tell_lag(recorder, records, records[-1].position)
        return handled

    async def _tell_lag(
        self, recorder: _telemetry.Recorder, records: Sequence[EventRecord], reached: int
    ) -> None:
        """Tell the lag gauge how far the bookmark is now behind the end of the streams."""
        if self._lag is None or recorder.instruments is None:
            return
        known = self._bookmark.known
        behind = await self._lag.behind(records, reached if known is None else known)
        if behind is not None:
            recorder.lag(self._name, self._bucket, behind)

    def _failed(self, record: EventRecord, error: HandlerError) -> None:
        """An event failed and was reported or parked: the batch goes on."""
        if self._probe is not None:
            self._probe.failure(record, error)

    async def _handle(self, records: Sequence[EventRecord], position: int) -> int:
        last = records[-1].position
        if self._transactions is not None:
            return await self._transactional(list(self._decode(records)), position, last)
        # One tight loop: each event is decoded just before its callback, so few objects
        # stay alive (and the garbage collector idle). The hooks' events are decoded only
        # if a hook reads them; then the callbacks get those same events.
        callbacks = self._callbacks
        decode = self._codec.decode_record
        meta = self._meta_of
        parking = self._parking
        parked = parking.aggregates if parking is not None else None
        events = self._batch_events(records) if self._hooks else None
        if events is not None:
            await self._handler.before_batch(events)
        decoded = events.decoded if events is not None else None
        handled = 0
        for record in records:
            callback = callbacks.get(record.type)
            if callback is None:
                continue
            if parked and (record.stream, record.aggregate_id) in parked:
                continue
            event: Event | None = None
            try:
                one = decoded.get(id(record)) if decoded is not None else None
                event = decode(record) if one is None else one.event
                result = (
                    callback.function(event, meta(record) if one is None else one.meta)
                    if callback.takes_meta
                    else callback.function(event)
                )
                if result is not None and inspect.isawaitable(result):
                    await await_with_cause(self._cause(record), result)
            except Exception as error:
                failure = HandlerError(
                    self._name,
                    record.position,
                    record.type,
                    error,
                    stream=record.stream,
                    aggregate_id=record.aggregate_id,
                )
                failure.__cause__ = error
                if self._retry is not None and event is not None:
                    retried = await self._retried(
                        functools.partial(self._call, record, callback, event), failure
                    )
                    if retried is None:
                        handled += 1
                        continue
                    failure = retried
                if parking is not None:
                    self._failed(record, failure)
                    await parking.park(record, failure)
                    continue
                if not self._continue:
                    # What was handled stays handled: flush it, then bookmark just before
                    # the failing event. If the flush fails, the bookmark stays put.
                    if events is not None:
                        await self.in_flight.stop_if_failed()
                        await _completed(await self._handler.after_batch(events.before(record)))
                    await self.in_flight.settle()
                    await self._stop_before(records, record, position)
                    self._handled_before_failure = handled
                    raise failure from failure.__cause__
                await self._report(failure, event, record)
            else:
                handled += 1
        pending = None
        if events is not None:
            await self.in_flight.stop_if_failed()
            pending = await self._handler.after_batch(events)
        await self.in_flight.move_past(position, last, len(records), pending)
        return handled

    def _batch_events(self, records: Sequence[EventRecord]) -> BatchEvents | None:
        """The hooks' view of the events of `records` for this handler.

        Those that have a callback and whose aggregate is not parked; None if there
        are none (the hooks are not called).
        """
        taken = [record for record, _ in self._taken(records)]
        if not taken:
            return None
        return BatchEvents(taken, self._codec.decode_record, self._meta_of)

    async def replay(self, stream: str, aggregate_id: str, records: Sequence[EventRecord]) -> int:
        """Handle a parked aggregate's `records` again, in order, and let it through.

        The bookmark stays put. Returns how many were handled. Where one fails (after
        the retry policy), the aggregate stays parked from that event on, and its
        `HandlerError` is raised. In a transaction that can park, the aggregate is let
        through or parked again as the transaction commits.
        """
        parking = self._parking
        assert parking is not None
        todo = list(self._decode(records, parked_too=True))
        outer = CURRENT.set(None)
        try:
            if self._transactions is not None:
                done, failed, settled = await self._replay_in_transaction(
                    stream, aggregate_id, todo
                )
            else:
                (done, failed), settled = await self._replay(todo), False
        finally:
            CURRENT.reset(outer)
        if failed is not None:
            record, failure = failed
            if not settled:
                await parking.park(record, failure)
            raise failure from failure.__cause__
        if settled:
            parking.aggregates.discard((stream, aggregate_id))
        else:
            await parking.unpark(stream, aggregate_id)
        return done

    async def _replay(
        self, todo: list[_Item]
    ) -> tuple[int, tuple[EventRecord, HandlerError] | None]:
        events = self._stored(todo)
        if self._hooks and todo:
            await self._handler.before_batch(events)
        handled, failed = await self._until_failure(todo, self._call)
        if self._hooks and todo:
            await _completed(await self._handler.after_batch(self._stored(handled)))
        return len(handled), failed

    async def _replay_in_transaction(
        self, stream: str, aggregate_id: str, todo: list[_Item]
    ) -> tuple[int, tuple[EventRecord, HandlerError] | None, bool]:
        """`_replay` in one transaction, each event in a savepoint: what failed is undone.

        The last value says whether the transaction parked or let through the aggregate.
        """
        assert self._transactions is not None
        assert self._parking is not None
        handler = cast("TransactionalHandler[object]", self._handler)
        events = self._stored(todo)
        settled = False
        async with self._transactions.batch_transaction() as transaction:
            handler.attach(transaction.connection)
            try:
                if todo:
                    await handler.before_batch(events)
                call = functools.partial(self._call_in, transaction, True)
                handled, failed = await self._until_failure(todo, call)
                if todo:
                    await _completed(await handler.after_batch(events))
            finally:
                handler.attach(None)
            if isinstance(transaction, ParkingTransaction):
                settled = True
                if failed is None:
                    await transaction.unpark(self._name, stream, aggregate_id)
                else:
                    await transaction.park(self._name, self._parking.set_aside(*failed))
        return len(handled), failed, settled

    async def _until_failure(
        self,
        todo: list[_Item],
        call: Callable[[EventRecord, Callback, Event | EventDecodeError], Awaitable[None]],
    ) -> tuple[list[_Item], tuple[EventRecord, HandlerError] | None]:
        """`call` each of `todo` in order, under the retry policy, until one fails.

        Returns those handled, and the one that failed with its error, if any.
        """
        handled: list[_Item] = []
        for record, callback, item in todo:
            once = functools.partial(call, record, callback, item)
            try:
                await once()
            except HandlerError as first:
                error = await self._retried_unless_undecodable(once, first, item)
                if error is not None:
                    return handled, (record, error)
            handled.append((record, callback, item))
        return handled, None

    def _stored(self, todo: Sequence[_Item]) -> list[StoredEvent[Event]]:
        """The events of `todo` that decoded, with their meta, for the batch hooks."""
        return [
            StoredEvent(item, self._meta_of(record))
            for record, _, item in todo
            if not isinstance(item, EventDecodeError)
        ]

    def _cause(self, record: EventRecord) -> EventRecord | EventMeta:
        """The cause recorded by commands that `record`'s callback runs (see `_context`)."""
        return record if self._reads_metadata else meta_without_metadata(record)

    async def _stop_before(
        self, records: Sequence[EventRecord], record: EventRecord, position: int
    ) -> None:
        """Bookmark just before `record`, which failed: what came before it stays handled."""
        index = records.index(record)
        await self._bookmark.advance(
            position, max(position, records[index - 1].position if index else 0)
        )

    def _parked_now(self, record: EventRecord) -> bool:
        """Whether `record`'s aggregate was parked by an earlier event of its batch."""
        parking = self._parking
        return parking is not None and (record.stream, record.aggregate_id) in parking.aggregates

    def _decode(
        self, records: Sequence[EventRecord], *, parked_too: bool = False
    ) -> Iterator[_Item]:
        """The records this handler takes, decoded one at a time as the loop asks.

        Those of parked aggregates are left out, unless `parked_too`.
        """
        decode = self._codec.decode_record
        for record, callback in self._taken(records, parked_too=parked_too):
            try:
                item: Event | EventDecodeError = decode(record)
            except EventDecodeError as error:
                item = error
            yield record, callback, item

    def _taken(
        self, records: Sequence[EventRecord], *, parked_too: bool = False
    ) -> Iterator[tuple[EventRecord, Callback]]:
        """The records this handler has a callback for, each with its callback.

        Those of parked aggregates are left out, unless `parked_too`.
        """
        callbacks = self._callbacks
        parking = self._parking
        parked = parking.aggregates if parking is not None and not parked_too else None
        for record in records:
            callback = callbacks.get(record.type)
            if callback is None:
                continue
            if parked and (record.stream, record.aggregate_id) in parked:
                continue
            yield record, callback

    def _invoke(
        self, record: EventRecord, callback: Callback, item: Event | EventDecodeError
    ) -> Awaitable[object] | None:
        """Call the callback; what is left to await if it is async (most are not)."""
        try:
            if isinstance(item, EventDecodeError):
                raise item
            result = (
                callback.function(item, self._meta_of(record))
                if callback.takes_meta
                else callback.function(item)
            )
        except Exception as error:
            raise HandlerError(
                self._name,
                record.position,
                record.type,
                error,
                stream=record.stream,
                aggregate_id=record.aggregate_id,
            ) from error
        if result is not None and inspect.isawaitable(result):
            return cast("Awaitable[object]", result)
        return None

    async def _settle(self, record: EventRecord, pending: Awaitable[object]) -> None:
        try:
            await await_with_cause(self._cause(record), pending)
        except Exception as error:
            raise HandlerError(
                self._name,
                record.position,
                record.type,
                error,
                stream=record.stream,
                aggregate_id=record.aggregate_id,
            ) from error

    async def _report(self, error: HandlerError, event: Event | None, record: EventRecord) -> None:
        self._failed(record, error)
        cause = error.__cause__
        assert isinstance(cause, Exception)
        await self._handler.on_error(cause, event, self._meta_of(record))

    async def _transactional(self, todo: list[_Item], position: int, last: int) -> int:
        assert self._transactions is not None
        handler = cast("TransactionalHandler[object]", self._handler)
        events = self._stored(todo)
        done = 0
        self._set_aside = []
        with self._bookmark.unknown_on_failure():
            async with self._transactions.batch_transaction() as transaction:
                handler.attach(transaction.connection)
                try:
                    if todo:
                        await handler.before_batch(events)
                    for record, callback, item in todo:
                        if self._parked_now(record):
                            continue
                        done += await self._in_savepoint(transaction, record, callback, item)
                    if todo:
                        await _completed(await handler.after_batch(events))
                finally:
                    handler.attach(None)
                await transaction.commit_bookmark(self._bookmark.name, position, last)
        self._bookmark.known = last
        if self._parking is not None:
            await self._parking.keep(self._set_aside)
        return done

    async def _in_savepoint(
        self,
        transaction: BatchTransaction[object],
        record: EventRecord,
        callback: Callback,
        item: Event | EventDecodeError,
    ) -> int:
        """Handle one event of the batch: 1 if handled, 0 if it failed and was reported.

        Without `continue_on_error` a failure rolls the whole batch back; with it, the
        event runs in a savepoint and only its own writes are rolled back.
        """
        alone = self._continue or self._retry is not None or self._parking is not None
        once = functools.partial(self._call_in, transaction, alone, record, callback, item)
        try:
            await once()
        except HandlerError as first:
            error = await self._retried_unless_undecodable(once, first, item)
            if error is None:
                return 1
            if self._parking is not None:
                self._failed(record, error)
                entry = self._parking.set_aside(record, error)
                if isinstance(transaction, ParkingTransaction):  # commits with the batch
                    await transaction.park(self._name, entry)
                else:  # stored once the batch has committed
                    self._set_aside.append(entry)
                return 0
            if not self._continue:
                raise error from error.__cause__
            await self._report(error, _event(item), record)
            return 0
        return 1

    async def _call_in(
        self,
        transaction: BatchTransaction[object],
        alone: bool,
        record: EventRecord,
        callback: Callback,
        item: Event | EventDecodeError,
    ) -> None:
        """`_call`, in a savepoint of its own if `alone`: a failure undoes its writes."""
        async with transaction.savepoint() if alone else contextlib.nullcontext():
            await self._call(record, callback, item)

    async def _call(
        self, record: EventRecord, callback: Callback, item: Event | EventDecodeError
    ) -> None:
        """Call the callback on the event and wait for it; raises `HandlerError`."""
        pending = self._invoke(record, callback, item)
        if pending is not None:
            await self._settle(record, pending)

    async def _retried_unless_undecodable(
        self, once: Callable[[], Awaitable[None]], failure: HandlerError, item: object
    ) -> HandlerError | None:
        if isinstance(item, EventDecodeError):
            return failure
        return await self._retried(once, failure)

    async def _retried(
        self, once: Callable[[], Awaitable[None]], failure: HandlerError
    ) -> HandlerError | None:
        """After the first `failure` of a callback, `once()` again as the retry policy says.

        None as soon as one succeeds; the last failure when the policy gives up.
        """
        retry = self._retry
        if retry is None:
            return failure
        attempt, started = 1, retry.clock()
        while (wait := retry.next_delay(attempt, retry.clock() - started)) is not None:
            await asyncio.sleep(wait)
            attempt += 1
            try:
                await once()
            except HandlerError as again:
                failure = again
            else:
                return None
        return failure


async def _completed(pending: Awaitable[None] | None) -> None:
    """Wait for what an `after_batch` returned (where the batch cannot be in flight)."""
    if pending is not None:
        await pending


def _event(item: Event | EventDecodeError) -> Event | None:
    """The decoded event, or None where decoding failed."""
    return None if isinstance(item, EventDecodeError) else item


def _overrides(handler: EventHandler, hook: str) -> bool:
    """Whether the handler's class replaces the no-op `hook` of EventHandler."""
    return getattr(type(handler), hook) is not getattr(EventHandler, hook)
