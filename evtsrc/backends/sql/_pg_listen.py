"""LISTEN/NOTIFY wake-ups for both PostgreSQL backends."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

import asyncpg

from .._support.listener import ReconnectingListener

log = logging.getLogger("evtsrc.backends.postgres")


class PgListener(ReconnectingListener):
    """An `AppendListener` fed by `NOTIFY channel, stream`, on a connection of its own.

    When that connection drops it connects again in the background (see
    `ReconnectingListener`).
    """

    def __init__(self, dsn: str, channel: str, streams: Sequence[str]) -> None:
        super().__init__(self._listen, name=f"LISTEN on {channel!r}", log=log)
        self._dsn = dsn
        self._channel = channel
        self._streams = frozenset(streams)

    @classmethod
    async def open(cls, dsn: str, channel: str, streams: Sequence[str]) -> PgListener:
        """A listener connected and listening on `channel`."""
        listener = cls(dsn, channel, streams)
        await listener.start()
        return listener

    async def _listen(self, woken: Callable[[], None], subscribed: Callable[[], None]) -> None:
        """LISTEN on a new connection until the connection is lost."""
        lost = asyncio.get_running_loop().create_future()

        def on_notify(_: object, __: int, ___: str, stream: object) -> None:
            if stream in self._streams:
                woken()

        def on_terminated(_: object) -> None:
            if not lost.done():
                lost.set_result(None)

        connection = await asyncpg.connect(self._dsn)
        try:
            await connection.add_listener(self._channel, on_notify)
            connection.add_termination_listener(on_terminated)
            subscribed()
            await lost
        except asyncio.CancelledError:  # the listener closes
            if not connection.is_closed():
                await connection.close()
            raise
        except BaseException:
            connection.terminate()
            raise
        raise ConnectionError("the connection was lost")
