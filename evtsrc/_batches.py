"""Handling one batch of a handler's events: decoding, calling back, moving the bookmark."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Awaitable, Iterable, Iterator, Mapping, Sequence
from typing import cast

from ._codec import Codec, meta_of
from ._errors import BookmarkMoved, EventDecodeError, HandlerError
from ._events import Event, StoredEvent
from ._handlers import Callback, EventHandler, TransactionalHandler
from .backends.base import BatchTransaction, BookmarkStore, EventRecord, TransactionalBookmarks

_Item = tuple[EventRecord, Callback, StoredEvent[Event] | EventDecodeError]


class Bookmark:
    """A handler's bookmark in its store, and the position this process last knew it at."""

    def __init__(self, store: BookmarkStore, name: str) -> None:
        self.store = store
        self.name = name
        self.known: int | None = None
        """The position last read or written here; None when it must be read again."""

    async def read(self) -> int:
        """The stored position (without remembering it)."""
        return await self.store.get_bookmark(self.name)

    async def save(self, position: int) -> None:
        """Store `position` and remember it."""
        await self.store.set_bookmark(self.name, position)
        self.known = position


class Batches:
    """Hands batches of records to one handler's callbacks and moves its bookmark past them.

    Delivery is at least once: the bookmark moves after each batch and never past
    an event that was not handled. With `transactions`, a batch instead runs in one
    transaction of the bookmark store, which moves the bookmark as it commits.
    """

    def __init__(
        self,
        handler: EventHandler,
        callbacks: Mapping[str, Callback],
        codec: Codec,
        bookmark: Bookmark,
        *,
        continue_on_error: bool,
        transactions: TransactionalBookmarks[object] | None,
    ) -> None:
        self._handler = handler
        self._name = handler.__handler_name__
        self._callbacks = callbacks
        self._codec = codec
        self._bookmark = bookmark
        self._continue = continue_on_error
        self._transactions = transactions
        self._hooks = _overrides(handler, "before_batch") or _overrides(handler, "after_batch")

    async def handle(self, records: Sequence[EventRecord], position: int) -> int:
        """Handle one batch, read after `position`, and move the bookmark past it.

        Returns how many events a callback handled without raising.
        """
        last = records[-1].position
        if self._transactions is not None:
            return await self._transactional(list(self._decode(records)), position, last)
        # Without batch hooks nothing needs the batch's events at once: decoding each one
        # just before its callback keeps few objects alive (and the garbage collector idle).
        todo: Iterable[_Item] = self._decode(records)
        events: list[StoredEvent[Event]] = []
        hooked = False  # whether the batch hooks run for this batch
        if self._hooks:
            todo = list(todo)
            events = [item for _, _, item in todo if isinstance(item, StoredEvent)]
            hooked = bool(todo)
            if hooked:
                await self._handler.before_batch(events)
        done: list[StoredEvent[Event]] = []
        handled = 0
        for record, callback, item in todo:
            try:
                pending = self._invoke(record, callback, item)
                if pending is not None:
                    await self._settle(record, pending)
            except HandlerError as error:
                if not self._continue:
                    # What was handled stays handled: flush it, then bookmark just before
                    # the failing event. If the flush fails, the bookmark stays put.
                    if hooked:
                        await self._handler.after_batch(done)
                    await self._bookmark.save(max(position, _before(records, record)))
                    raise
                await self._report(error, item, record)
            else:
                handled += 1
                if hooked:
                    assert isinstance(item, StoredEvent)
                    done.append(item)
        if hooked:
            await self._handler.after_batch(events)
        await self._bookmark.save(last)
        return handled

    def _decode(self, records: Sequence[EventRecord]) -> Iterator[_Item]:
        """The records this handler takes, decoded one at a time as the loop asks."""
        decode = self._codec.decode_record
        callbacks = self._callbacks
        for record in records:
            callback = callbacks.get(record.type)
            if callback is None:
                continue
            try:
                item: StoredEvent[Event] | EventDecodeError = StoredEvent(
                    decode(record), meta_of(record)
                )
            except EventDecodeError as error:
                item = error
            yield record, callback, item

    def _invoke(
        self, record: EventRecord, callback: Callback, item: StoredEvent[Event] | EventDecodeError
    ) -> Awaitable[object] | None:
        """Call the callback; what is left to await if it is async (most are not)."""
        try:
            if isinstance(item, EventDecodeError):
                raise item
            result = (
                callback.function(item.event, item.meta)
                if callback.takes_meta
                else callback.function(item.event)
            )
        except Exception as error:
            raise HandlerError(self._name, record.position, record.type, error) from error
        if result is not None and inspect.isawaitable(result):
            return cast("Awaitable[object]", result)
        return None

    async def _settle(self, record: EventRecord, pending: Awaitable[object]) -> None:
        try:
            await pending
        except Exception as error:
            raise HandlerError(self._name, record.position, record.type, error) from error

    async def _report(
        self, error: HandlerError, item: StoredEvent[Event] | EventDecodeError, record: EventRecord
    ) -> None:
        cause = error.__cause__
        assert isinstance(cause, Exception)
        event = item.event if isinstance(item, StoredEvent) else None
        await self._handler.on_error(cause, event, meta_of(record))

    async def _transactional(self, todo: list[_Item], position: int, last: int) -> int:
        assert self._transactions is not None
        handler = cast("TransactionalHandler[object]", self._handler)
        events = [item for _, _, item in todo if isinstance(item, StoredEvent)]
        done = 0
        try:
            async with self._transactions.batch_transaction() as transaction:
                handler.attach(transaction.connection)
                try:
                    if todo:
                        await handler.before_batch(events)
                    for record, callback, item in todo:
                        done += await self._in_savepoint(transaction, record, callback, item)
                    if todo:
                        await handler.after_batch(events)
                finally:
                    handler.attach(None)
                await transaction.commit_bookmark(self._name, position, last)
        except BookmarkMoved:
            self._bookmark.known = None
            raise
        self._bookmark.known = last
        return done

    async def _in_savepoint(
        self,
        transaction: BatchTransaction[object],
        record: EventRecord,
        callback: Callback,
        item: StoredEvent[Event] | EventDecodeError,
    ) -> int:
        """Handle one event of the batch: 1 if handled, 0 if it failed and was reported.

        Without `continue_on_error` a failure rolls the whole batch back; with it, the
        event runs in a savepoint and only its own writes are rolled back.
        """
        savepoint = transaction.savepoint() if self._continue else contextlib.nullcontext()
        try:
            async with savepoint:
                pending = self._invoke(record, callback, item)
                if pending is not None:
                    await self._settle(record, pending)
        except HandlerError as error:
            if not self._continue:
                raise
            await self._report(error, item, record)
            return 0
        return 1


def _before(records: Sequence[EventRecord], record: EventRecord) -> int:
    index = records.index(record)
    return records[index - 1].position if index else 0


def _overrides(handler: EventHandler, hook: str) -> bool:
    """Whether the handler's class replaces the no-op `hook` of EventHandler."""
    return getattr(type(handler), hook) is not getattr(EventHandler, hook)
