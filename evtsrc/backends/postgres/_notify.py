"""Announcing PostgreSQL appends after they commit, outside the appending transaction.

A transaction that has called NOTIFY takes a lock at commit that every other
notifying transaction of the cluster waits for, held until its commit record is on
disk: appends that NOTIFY commit one after the other, each waiting for its own
flush. So PostgresBackend's appends commit without it, and this sends the
notifications afterwards, one statement for all streams appended to meanwhile,
and during a burst at most one every `interval` (docs/performance.md has the
measurements). SqlAlchemyBackend keeps NOTIFY in its
append: there, a separate notification cost more client time than it saved.

A notification is a wake-up, not the data: if one is lost (the statement fails,
the process dies between the commit and it), tailing handlers still find the
events at their next poll.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("evtsrc")

DEFAULT_NOTIFY_INTERVAL = 0.002
"""Seconds between notifications during a burst of appends: a wake-up waits at most this."""

NOTIFY_SQL = "SELECT pg_notify($1, s) FROM unnest($2::text[]) AS s"
"""Notify channel $1 once for each stream in $2."""


class AfterCommitNotifier:
    """Sends the streams announced with `announce` through `send`, one call at a time.

    Calls start at least `interval` seconds apart: an announcement after a quiet
    spell goes at once, and those made meanwhile go in the next call, together.
    """

    def __init__(
        self, send: Callable[[list[str]], Awaitable[None]], *, interval: float = 0.0
    ) -> None:
        self._send = send
        self._interval = interval
        self._pending: dict[str, None] = {}  # in announcement order
        self._sending: asyncio.Task[None] | None = None
        self._last = float("-inf")  # when the last call started, by the loop's clock

    def announce(self, stream: str) -> None:
        """Notify listeners of `stream` soon: its append has committed."""
        self._pending[stream] = None
        if self._sending is None or self._sending.done():
            self._sending = asyncio.ensure_future(self._drain())

    async def flush(self) -> None:
        """Wait until every announcement so far has been sent (or failed)."""
        while self._sending is not None and not self._sending.done():
            await asyncio.wait((self._sending,))

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            wait = self._last + self._interval - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            self._last = loop.time()
            streams = list(self._pending)
            self._pending.clear()
            try:
                await self._send(streams)
            except Exception:
                log.warning(
                    "could not notify listeners of appends to %s; tailing handlers will "
                    "find the events when they next poll",
                    streams,
                    exc_info=True,
                )
