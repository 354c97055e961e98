"""Handler leases on PostgreSQL: a session advisory lock on a connection of their own."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from .._support.lease import ConnectionLease
from ._pg_errors import LOST, OUTAGE

PgConnection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"


def advisory_key(store: str, name: str) -> int:
    """A signed 64-bit advisory-lock key for handler `name` of the event store `store`."""
    digest = hashlib.sha256(f"evtsrc\0{store}\0{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class AdvisoryLock:
    """The `SessionLock` of `PgAdvisoryLease`: `pg_try_advisory_lock(key)`.

    `give_back` must free every lock the session holds (asyncpg's reset does) or
    close it; `close` is for a connection that failed, whose state is unknown.
    """

    def __init__(
        self,
        key: int,
        connect: Callable[[], Awaitable[PgConnection]],
        give_back: Callable[[PgConnection], Awaitable[None]],
        close: Callable[[PgConnection], Awaitable[None]],
    ) -> None:
        self.key = key
        self._connect = connect
        self._give_back = give_back
        self._close = close

    async def connect(self) -> PgConnection:
        """A connection lent for the lease."""
        return await self._connect()

    async def try_lock(self, connection: PgConnection) -> bool:
        """Take the lock if no session holds it."""
        taken: bool = await connection.fetchval("SELECT pg_try_advisory_lock($1)", self.key)
        return taken

    async def holds(self, connection: PgConnection) -> bool:
        """Whether the connection is alive, and so the lock held."""
        await connection.fetchval("SELECT 1")
        return True

    async def give_back(self, connection: PgConnection) -> None:
        """Free the lock with the rest of the session's state, and the connection."""
        await self._give_back(connection)

    async def discard(self, connection: PgConnection) -> None:
        """Close a connection that failed: the server frees the lock."""
        await self._close(connection)

    def lost(self, error: Exception) -> bool:
        """Whether `error` leaves the lock's session in doubt."""
        return isinstance(error, (*LOST, asyncpg.PostgresError, asyncpg.InterfaceError))


class PgAdvisoryLease(ConnectionLease[PgConnection]):
    """A lease held as `pg_try_advisory_lock(key)` on a dedicated connection.

    `connect` lends the connection; `give_back` must free every lock the session
    holds (asyncpg's reset does) or close it; `close` is for a connection that
    failed. Each statement takes at most `timeout` seconds.
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
        lock = AdvisoryLock(key, connect, give_back, close)
        super().__init__(lock, outage=OUTAGE, action="taking a handler lease", timeout=timeout)
        self.key = key
