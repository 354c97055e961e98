"""Handler leases on PostgreSQL: a session advisory lock on a connection of their own."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from ._connections import LOST, OUTAGE

PgConnection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"


def advisory_key(store: str, name: str) -> int:
    """A signed 64-bit advisory-lock key for handler `name` of the event store `store`."""
    digest = hashlib.sha256(f"evtsrc\0{store}\0{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PgAdvisoryLease:
    """A lease held as `pg_try_advisory_lock` on a dedicated connection.

    The server frees the lock when that connection closes, so a runner that
    dies (even by SIGKILL) gives the lease up at once. `give_back` must free every
    lock the session holds (asyncpg's reset does) or close it; `close` is for a
    connection that failed, whose state is unknown. Each statement takes at most
    `timeout` seconds.
    """

    def __init__(
        self,
        key: int,
        connect: Callable[[], Awaitable[PgConnection]],
        give_back: Callable[[PgConnection], Awaitable[None]],
        close: Callable[[PgConnection], Awaitable[None]],
        *,
        timeout: float,
    ) -> None:
        self.key = key
        self._connect = connect
        self._give_back = give_back
        self._close = close
        self._timeout = timeout
        self._connection: PgConnection | None = None

    async def acquire(self) -> bool:
        """Take the lock if no session holds it."""
        if self._connection is not None:
            return True
        with OUTAGE.during("taking a handler lease"):
            connection = await self._connect()
            try:
                async with asyncio.timeout(self._timeout):
                    taken = await connection.fetchval("SELECT pg_try_advisory_lock($1)", self.key)
            except BaseException:
                await self._close(connection)
                raise
        if not taken:
            await self._give_back(connection)
            return False
        self._connection = connection
        return True

    async def check(self) -> bool:
        """Whether the lock's connection is alive (and so the lock held)."""
        connection = self._connection
        if connection is None:
            return False
        try:
            async with asyncio.timeout(self._timeout):
                await connection.fetchval("SELECT 1")
        except (*LOST, asyncpg.PostgresError, asyncpg.InterfaceError):
            self._connection = None
            await self._close(connection)
            return False
        return True

    async def release(self) -> None:
        """Give the lock and its connection up."""
        connection, self._connection = self._connection, None
        if connection is not None:
            await self._give_back(connection)
