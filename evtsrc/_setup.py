"""What a handler's runner and its group both set up: checked options, callbacks, stores."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import cast

import attrs

from . import _telemetry
from ._batches import Batches, Bookmark
from ._codec import Codec
from ._errors import DefinitionError
from ._handlers import Callback, EventHandler, TransactionalHandler, callbacks_of, streams_read
from ._parking import Parking
from ._retry import RetryPolicy
from ._streams import StreamMap
from .backends.base import (
    AppendListener,
    Backend,
    BookmarkStore,
    Bucket,
    EventRecord,
    Lease,
    LeaseProvider,
    LocalLease,
    ParkedEvents,
    PollingListener,
    TransactionalBookmarks,
    accepts_keyword,
)

log = logging.getLogger("evtsrc.handlers")


@attrs.frozen
class HandlerSetup:
    """A handler with its callbacks, streams and stores, its options checked."""

    handler: EventHandler
    name: str
    callbacks: Mapping[str, Callback]
    streams: tuple[str, ...]
    """The streams the handler reads, sorted."""
    every_stream: tuple[str, ...]
    """Every stream of the domain, sorted (a position of any of them can be waited for)."""
    backend: Backend
    codec: Codec
    store: BookmarkStore
    transactions: TransactionalBookmarks[object] | None
    """The store, where the handler is a `TransactionalHandler`."""
    parked: ParkedEvents | None
    """The store, where the handler parks failed events."""
    read: Callable[..., Awaitable[Sequence[EventRecord]]]
    """How catch-ups read: without ids and metadata if the handler and backend can."""
    continue_on_error: bool
    retry: RetryPolicy | None
    batch_size: int

    def lease(self, name: str) -> Lease:
        """The lease of bookmark `name`: the store's own, else one for this process only."""
        store = self.store
        return store.lease(name) if isinstance(store, LeaseProvider) else LocalLease(store, name)

    async def in_transaction(self, action: Callable[[], Awaitable[None]]) -> None:
        """Call a hook of the handler: for a `TransactionalHandler`, in a transaction.

        There `self.connection` is the transaction's, so `on_reset` and `on_drop` can
        clear or drop tables; the transaction commits as the hook returns.
        """
        transactions = self.transactions
        if transactions is None:
            await action()
            return
        handler = cast("TransactionalHandler[object]", self.handler)  # as set_up found it
        async with transactions.batch_transaction() as transaction:
            handler.attach(transaction.connection)
            try:
                await action()
            finally:
                handler.attach(None)

    def parking_store(self) -> ParkedEvents:
        """Where the handler parks failed events; `RuntimeError` if it does not park them."""
        if self.parked is None:
            raise RuntimeError(f"handler {self.name!r} does not park failed events (park=True)")
        return self.parked

    def batches(
        self, bookmark: Bookmark, parking: Parking | None, bucket: Bucket | None = None
    ) -> Batches:
        """Batches of this handler (or its `bucket`) that move `bookmark`.

        They park failed events with `parking`, if given.
        """
        return Batches(
            self.handler,
            self.callbacks,
            self.codec,
            bookmark,
            batch_size=self.batch_size,
            continue_on_error=self.continue_on_error,
            transactions=self.transactions,
            retry=self.retry,
            parking=parking,
            bucket=bucket,
            last_position=functools.partial(self.backend.last_position, self.streams),
        )

    async def listen(self, what: str) -> AppendListener:
        """A listener for appends to the handler's streams; one that polls if it fails."""
        try:
            return await self.backend.listen(self.streams)
        except Exception:
            log.exception(
                "%s cannot listen for appends; polling instead",
                what,
                extra=_telemetry.handler_ids(self.name),
            )
            return PollingListener()


def set_up(
    handler: EventHandler,
    *,
    backend: Backend,
    codec: Codec,
    streams: StreamMap,
    bookmarks: BookmarkStore | None,
    continue_on_error: bool,
    batch_size: int,
    poll_interval: float,
    retry: RetryPolicy | None,
    park: bool,
) -> HandlerSetup:
    """Check a handler's options and find its callbacks, streams and stores.

    Raises `TypeError` or `ValueError` for a bad option, and `DefinitionError` where
    the bookmark store cannot do what the handler needs.
    """
    if not isinstance(handler, EventHandler):
        raise TypeError(f"{handler!r} is not an EventHandler")
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise TypeError(f"retry must be a RetryPolicy or None, not {retry!r}")
    if not isinstance(park, bool):
        raise TypeError(f"park must be a bool, not {park!r}")
    if park and continue_on_error:
        raise ValueError(
            "park and continue_on_error both say what becomes of a failed event: choose one"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    if not poll_interval > 0:
        raise ValueError(f"poll_interval must be positive, not {poll_interval!r}")
    name = handler.__handler_name__
    callbacks = callbacks_of(handler, codec.classes)
    handled = streams_read(handler, callbacks, codec.classes, streams)
    store: BookmarkStore = bookmarks if bookmarks is not None else backend
    transactions: TransactionalBookmarks[object] | None = None
    transactional = isinstance(handler, TransactionalHandler)  # a bool: handler stays as typed
    if transactional:
        if not isinstance(store, TransactionalBookmarks):
            raise DefinitionError(
                f"transactional handler {name!r} needs a bookmark store with "
                f"transactions (a SQL backend), not {type(store).__qualname__}"
            )
        transactions = store
    parked: ParkedEvents | None = None
    if park:
        if not isinstance(store, ParkedEvents):
            raise DefinitionError(
                f"handler {name!r} parks failed events, which needs a bookmark "
                f"store that keeps them (ParkedEvents), not {type(store).__qualname__}"
            )
        parked = store
    lean = not handler.__handler_reads_metadata__ and accepts_keyword(
        backend.read_streams, "metadata"
    )
    return HandlerSetup(
        handler=handler,
        name=name,
        callbacks=callbacks,
        streams=handled,
        every_stream=tuple(sorted(streams.streams)),
        backend=backend,
        codec=codec,
        store=store,
        transactions=transactions,
        parked=parked,
        read=functools.partial(backend.read_streams, metadata=False)
        if lean
        else backend.read_streams,
        continue_on_error=continue_on_error,
        retry=retry,
        batch_size=batch_size,
    )
