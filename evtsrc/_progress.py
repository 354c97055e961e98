"""Telling when a handler has handled everything up to a position, for read-your-writes."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Sequence

from .backends.base import Backend

FIRST_DELAY = 0.005
"""Seconds before a waiter first asks again (the store, or a started loop to run)."""
MAX_DELAY = 0.25
"""The longest a waiter goes between two asks: the delay doubles up to this."""


def check_wait(position: object, timeout: object) -> None:
    """Refuse a position that is not an int and a timeout that is not positive and finite."""
    if not isinstance(position, int) or isinstance(position, bool):
        raise TypeError(f"a position is an int, not {type(position).__qualname__}")
    if (
        not isinstance(timeout, int | float)
        or isinstance(timeout, bool)
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        raise ValueError(f"timeout must be a positive, finite number of seconds, not {timeout!r}")


async def passed(
    backend: Backend,
    streams: Sequence[str],
    every_stream: Sequence[str],
    bookmark: int,
    position: int,
) -> bool:
    """Whether a handler of `streams` at `bookmark` has handled all of them up to `position`.

    True when no event of `streams` at or below `position` follows `bookmark`, and
    none can still appear: the store must first show readers of `every_stream` (the
    domain's streams, holding `position`) up to `position`, since a backend holds
    readers back while a transaction may still commit below it. Asked in that order,
    the read of `streams` sees every event that will ever lie below `position`.
    """
    if await backend.last_position(every_stream) < position:
        return False
    page = await backend.read_streams(streams, after_position=bookmark, limit=1)
    return not page or page[0].position > position


class Progress:
    """What a started runner's loop and the waiters of its process tell each other.

    A waiter `nudge()`s the loop to run now rather than at its next poll, and waits
    on `next_run()`, which is set when the loop's next run ends.
    """

    def __init__(self) -> None:
        self._nudge = asyncio.Event()
        self._ran = asyncio.Event()

    def nudge(self) -> None:
        """Ask the loop to run as soon as it can."""
        self._nudge.set()

    def next_run(self) -> asyncio.Event:
        """An event set when the loop's run under way (or its next one) ends."""
        return self._ran

    def starting(self) -> None:
        """The loop starts a run: a nudge from here on asks for another one."""
        self._nudge.clear()

    def ended(self) -> None:
        """The loop ended a run: wake the waiters, and give later ones a fresh event."""
        ended, self._ran = self._ran, asyncio.Event()
        ended.set()

    async def pause(self, waiting: Callable[[], Awaitable[None]]) -> None:
        """Wait for what `waiting()` awaits (new events, or a poll's delay) or for a nudge."""
        if self._nudge.is_set():
            return
        heard = asyncio.ensure_future(waiting())
        nudged = asyncio.ensure_future(self._nudge.wait())
        try:
            await asyncio.wait((heard, nudged), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (heard, nudged):
                task.cancel()
            await asyncio.wait((heard, nudged))
        if not heard.cancelled():
            heard.result()  # a listener's failure ends the loop as it did before
