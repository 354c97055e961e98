"""A handler lease on MariaDB/MySQL: a named lock (`GET_LOCK`) on a connection of its own."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .._support.lease import ConnectionLease
from .._support.outage import DEFAULT_TIMEOUT, Outage

MAX_LOCK_NAME = 64
"""The longest lock name MariaDB and MySQL take."""


def named_lock_lease(
    engine: AsyncEngine, name: str, outage: Outage
) -> ConnectionLease[AsyncConnection]:
    """A lease held as the named lock `name` on a connection of `engine`'s."""
    lock = NamedLock(engine, name, outage)
    return ConnectionLease(
        lock, outage=outage, action=f"take the handler lease {lock.name!r}", timeout=DEFAULT_TIMEOUT
    )


class NamedLock:
    """The `SessionLock` of a MariaDB/MySQL handler lease: `GET_LOCK(name, 0)`."""

    def __init__(self, engine: AsyncEngine, name: str, outage: Outage) -> None:
        if len(name) > MAX_LOCK_NAME:  # keep long names unique with a digest
            name = name[:40] + hashlib.sha256(name.encode()).hexdigest()[:24]
        self.name = name
        self._engine = engine
        self._outage = outage

    async def connect(self) -> AsyncConnection:
        """A connection of the engine's, for the lock alone."""
        return await self._engine.connect()

    async def try_lock(self, connection: AsyncConnection) -> bool:
        """Take the lock if no session holds it; whether taken."""
        taken = await connection.scalar(sa.select(sa.func.get_lock(self.name, 0)))
        await connection.commit()
        return taken == 1

    async def holds(self, connection: AsyncConnection) -> bool:
        """Whether this connection's session holds the lock."""
        mine = await connection.scalar(
            sa.select(sa.func.is_used_lock(self.name) == sa.func.connection_id())
        )
        await connection.commit()
        return bool(mine)

    async def give_back(self, connection: AsyncConnection) -> None:
        """Release the lock and close the connection."""
        try:
            await connection.scalar(sa.select(sa.func.release_lock(self.name)))
            await connection.commit()
        except sa_exc.DBAPIError as error:
            if not self._outage(error):
                raise
            # The connection is gone, and the server freed the lock with it.
        finally:
            await connection.close()

    async def discard(self, connection: AsyncConnection) -> None:
        """End the connection's session, so the server frees the lock."""
        await connection.invalidate()
        await connection.close()

    def lost(self, error: Exception) -> bool:
        """Whether `error` is the driver's: the connection is in doubt."""
        return isinstance(error, sa_exc.DBAPIError)
