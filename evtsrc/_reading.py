"""Reading a handler's events batch after batch: the next batch while one is handled."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence

from .backends.base import EventRecord

Read = Callable[[int], Awaitable[Sequence[EventRecord]]]
"""Reads at most one batch of events after a position."""


class ReadAhead:
    """Batches of events read after a position, the next one while one is handled.

    Each full batch's successor is read while the caller handles it: the store works
    while the handler does.

    `next()` returns the next batch, empty at the end. Always `close()` it: a read
    still under way is left to end, its batch unused.
    """

    def __init__(self, read: Read, position: int, size: int) -> None:
        self._read = read
        self._size = size
        self._pending: asyncio.Future[Sequence[EventRecord]] | None = self._start(position)

    def _start(self, position: int) -> asyncio.Future[Sequence[EventRecord]]:
        pending = asyncio.ensure_future(self._read(position))
        pending.add_done_callback(_retrieve)
        return pending

    async def next(self) -> Sequence[EventRecord]:
        """The next batch; an empty one once a batch came back short of full."""
        pending, self._pending = self._pending, None
        if pending is None:
            return ()
        records = await pending
        if len(records) >= self._size:
            self._pending = self._start(records[-1].position)
        return records

    async def close(self) -> None:
        """Let a read under way end (its batch unused); cancelled, it is cancelled too."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        try:
            with contextlib.suppress(Exception):
                await pending
        except asyncio.CancelledError:
            pending.cancel()
            raise


def _retrieve(done: asyncio.Future[Sequence[EventRecord]]) -> None:
    """Read what a read ahead failed with: an unused batch's error is not reported."""
    if not done.cancelled():
        done.exception()
