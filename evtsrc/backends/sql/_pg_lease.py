"""Handler leases on PostgreSQL: session advisory locks on a connection of their own."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from .._support.lease import SharedSession
from ._pg_errors import LOST, OUTAGE

PgConnection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"


def advisory_key(store: str, name: str) -> int:
    """A signed 64-bit advisory-lock key for handler `name` of the event store `store`."""
    digest = hashlib.sha256(f"evtsrc\0{store}\0{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class AdvisoryLocks:
    """The `SessionLocks` of PostgreSQL leases: `pg_try_advisory_lock(key)`.

    `give_back` must free every lock the session holds (asyncpg's reset does) or
    close it; `close` is for a connection that failed, whose state is unknown.
    """

    def __init__(
        self,
        connect: Callable[[], Awaitable[PgConnection]],
        give_back: Callable[[PgConnection], Awaitable[None]],
        close: Callable[[PgConnection], Awaitable[None]],
    ) -> None:
        self._connect = connect
        self._give_back = give_back
        self._close = close

    async def connect(self) -> PgConnection:
        """A connection lent for the leases."""
        return await self._connect()

    async def try_lock(self, connection: PgConnection, key: int) -> bool:
        """Take the lock if no session holds it."""
        taken: bool = await connection.fetchval("SELECT pg_try_advisory_lock($1)", key)
        return taken

    async def holds(self, connection: PgConnection, key: int) -> bool:
        """Whether the connection is alive, and so its locks held."""
        await connection.fetchval("SELECT 1")
        return True

    async def unlock(self, connection: PgConnection, key: int) -> None:
        """Free the lock."""
        await connection.fetchval("SELECT pg_advisory_unlock($1)", key)

    async def give_back(self, connection: PgConnection) -> None:
        """Free the locks with the rest of the session's state, and the connection."""
        await self._give_back(connection)

    async def discard(self, connection: PgConnection) -> None:
        """Close a connection that failed: the server frees the locks."""
        await self._close(connection)

    def lost(self, error: Exception) -> bool:
        """Whether `error` leaves the locks' session in doubt."""
        return isinstance(error, (*LOST, asyncpg.PostgresError, asyncpg.InterfaceError))


def advisory_leases(
    connect: Callable[[], Awaitable[PgConnection]],
    give_back: Callable[[PgConnection], Awaitable[None]],
    close: Callable[[PgConnection], Awaitable[None]],
    *,
    timeout: float,
) -> SharedSession[PgConnection, int]:
    """A backend's leases, as advisory locks on one connection lent by `connect`.

    `give_back` must free every lock the session holds (asyncpg's reset does) or close
    it; `close` is for a connection that failed. Each statement takes at most `timeout`
    seconds.
    """
    return SharedSession(AdvisoryLocks(connect, give_back, close), outage=OUTAGE, timeout=timeout)
