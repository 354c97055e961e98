"""Handler leases on PostgreSQL: a session advisory lock on a connection of their own."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

PgConnection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"


def advisory_key(store: str, name: str) -> int:
    """A signed 64-bit advisory-lock key for handler `name` of the event store `store`."""
    digest = hashlib.sha256(f"evtsrc\0{store}\0{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PgAdvisoryLease:
    """A lease held as `pg_try_advisory_lock` on a dedicated connection.

    The server frees the lock when that connection closes, so a runner that
    dies (even by SIGKILL) gives the lease up at once.
    """

    def __init__(
        self,
        key: int,
        connect: Callable[[], Awaitable[PgConnection]],
        disconnect: Callable[[PgConnection], Awaitable[None]],
    ) -> None:
        self.key = key
        self._connect = connect
        self._disconnect = disconnect
        self._connection: PgConnection | None = None

    async def acquire(self) -> bool:
        """Take the lock if no session holds it."""
        if self._connection is not None:
            return True
        connection = await self._connect()
        try:
            taken = await connection.fetchval("SELECT pg_try_advisory_lock($1)", self.key)
        except BaseException:
            await self._disconnect(connection)
            raise
        if not taken:
            await self._disconnect(connection)
            return False
        self._connection = connection
        return True

    async def check(self) -> bool:
        """Whether the lock's connection is alive (and so the lock held)."""
        connection = self._connection
        if connection is None:
            return False
        try:
            await connection.fetchval("SELECT 1")
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            self._connection = None
            return False
        return True

    async def release(self) -> None:
        """Unlock and give the connection back."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            if not connection.is_closed():
                await connection.execute("SELECT pg_advisory_unlock($1)", self.key)
        finally:
            await self._disconnect(connection)
