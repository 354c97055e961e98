"""LISTEN/NOTIFY wake-ups for PostgreSQL backends, reconnecting with backoff."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

import asyncpg

log = logging.getLogger("evtsrc.backends.postgres")

MAX_BACKOFF = 10.0


class PgListener:
    """An `AppendListener` fed by `NOTIFY channel, stream`.

    It keeps one connection that LISTENs. When that connection drops it
    reconnects in the background with exponential backoff; until then `wait`
    falls back to its timeout (polling), and after reconnecting it wakes the
    reader once, since notifications sent meanwhile were lost.
    """

    def __init__(self, dsn: str, channel: str, streams: Sequence[str]) -> None:
        self._dsn = dsn
        self._channel = channel
        self._streams = frozenset(streams)
        self._woken = asyncio.Event()
        self._connection: asyncpg.Connection | None = None
        self._reconnecting: asyncio.Task[None] | None = None
        self._closed = False

    @classmethod
    async def open(cls, dsn: str, channel: str, streams: Sequence[str]) -> PgListener:
        """A listener connected and listening on `channel`."""
        listener = cls(dsn, channel, streams)
        await listener._connect()
        return listener

    async def _connect(self) -> None:
        connection = await asyncpg.connect(self._dsn)
        try:
            await connection.add_listener(self._channel, self._on_notify)
        except BaseException:
            connection.terminate()
            raise
        connection.add_termination_listener(self._on_terminated)
        self._connection = connection

    def _on_notify(self, _: object, __: int, ___: str, stream: object) -> None:
        if stream in self._streams:
            self._woken.set()

    def _on_terminated(self, _: object) -> None:
        self._connection = None
        if not self._closed and self._reconnecting is None:
            log.warning("LISTEN connection on %r lost; reconnecting", self._channel)
            self._reconnecting = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        delay = 0.05
        try:
            while not self._closed:
                try:
                    await self._connect()
                except Exception as error:  # keep trying whatever the driver says
                    log.warning(
                        "reconnecting LISTEN on %r failed (%s); next try in %.2f s",
                        self._channel,
                        error,
                        delay,
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, MAX_BACKOFF)
                else:
                    self._woken.set()
                    return
        finally:
            self._reconnecting = None

    @property
    def connected(self) -> bool:
        """Whether notifications can arrive now."""
        return self._connection is not None and not self._connection.is_closed()

    async def wait(self, timeout: float) -> None:
        """Return on a notification for one of the streams, or after `timeout` seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._woken.wait(), timeout)
        self._woken.clear()

    async def close(self) -> None:
        """Stop listening and close the connection."""
        self._closed = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconnecting
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            await connection.close()
