"""Batches in flight: handled, their bookmark move waiting for their acknowledgement."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import NamedTuple

IN_FLIGHT = 4
"""How many full batches' worth of events may wait at once."""


class _Batch(NamedTuple):
    start: int
    """The position the batch was read after."""
    last: int
    """Its last event's position."""
    size: int
    """How many events it has."""
    pending: asyncio.Future[None] | None
    """What it waits for; None if nothing (it waits for the batches before it)."""


class InFlight:
    """Batches handled while earlier ones wait for their acknowledgement.

    Each waits for what its `after_batch` returned (a relay's acknowledgements).

    The bookmark moves past them in order as they complete, through `advance(start,
    last)`, several in one move. At most `room` events wait: a batch beyond that
    waits for the oldest. If one fails, the later ones are abandoned: the bookmark
    stays before it, and they are handled again.
    """

    def __init__(self, advance: Callable[[int, int], Awaitable[None]], room: int) -> None:
        self._advance = advance
        self._room = room
        self._batches: deque[_Batch] = deque()
        self._waiting = 0
        """How many events the batches in flight have."""

    @property
    def sent_through(self) -> int | None:
        """The last position of the newest batch in flight; None if none is."""
        return self._batches[-1].last if self._batches else None

    def oldest(self) -> asyncio.Future[None] | None:
        """What the oldest batch in flight waits for, if one waits."""
        return self._batches[0].pending if self._batches else None

    async def move_past(
        self, start: int, last: int, size: int, pending: Awaitable[None] | None
    ) -> None:
        """Move the bookmark from `start` to `last` once the batch is done.

        That is once `pending` (if any) and the batches in flight before it are done;
        until then the batch is in flight.
        """
        if pending is None and not self._batches:
            await self._advance(start, last)
            return
        future = None if pending is None else asyncio.ensure_future(pending)
        self._batches.append(_Batch(start, last, size, future))
        self._waiting += size
        await self.settle_done()

    @contextlib.asynccontextmanager
    async def settling(self, *, everything: bool) -> AsyncGenerator[None]:
        """Around a run: at its end, settle what is in flight; if it fails, abandon it.

        `settle()` everything, or only `settle_done()`.
        """
        try:
            yield
        except BaseException:
            self.abandon()
            raise
        await (self.settle() if everything else self.settle_done())

    async def stop_if_failed(self) -> None:
        """Before a batch is sent: if one in flight failed, settle up to it and raise its error.

        Sent after that failure, the batch could reach the broker before the failed one,
        sent again, would: its aggregates' events would arrive out of order.
        """
        if any(_failed(batch.pending) for batch in self._batches):
            await self.settle()

    async def settle(self) -> None:
        """Wait for every batch in flight, and move the bookmark past them."""
        await self._settle(0)

    async def settle_done(self) -> None:
        """Move the bookmark past the oldest batches that are done.

        Waits only while more than `room` events are in flight.
        """
        await self._settle(self._room)

    async def _settle(self, room: int) -> None:
        """Move the bookmark past the oldest batches, in one write.

        Waits for them while more than `room` events wait, then takes the done ones.

        If one failed, the bookmark moves past those before it, the others are
        abandoned, and its error is raised.
        """
        batches = self._batches
        if not batches:
            return
        start, end = batches[0].start, None
        failure: Exception | None = None
        try:
            while batches and (self._waiting > room or _done(batches[0].pending)):
                oldest = batches[0]
                if oldest.pending is not None:
                    await oldest.pending
                batches.popleft()
                self._waiting -= oldest.size
                end = oldest.last
        except Exception as error:
            failure = error
            self.abandon()
        except BaseException:
            self.abandon()
            raise
        if end is not None:
            await self._advance(start, end)
        if failure is not None:
            raise failure

    def abandon(self) -> None:
        """Let go of the batches in flight: the bookmark stays before them."""
        for batch in self._batches:
            pending = batch.pending
            if pending is None:
                continue
            if not pending.done():
                pending.cancel()
            elif not pending.cancelled():
                pending.exception()  # read, so that it is not reported as never retrieved
        self._batches.clear()
        self._waiting = 0


def _done(pending: asyncio.Future[None] | None) -> bool:
    return pending is None or pending.done()


def _failed(pending: asyncio.Future[None] | None) -> bool:
    return (
        pending is not None
        and pending.done()
        and not pending.cancelled()
        and pending.exception() is not None
    )
