"""A handler lease on MariaDB/MySQL: a named lock (`GET_LOCK`) on a connection of its own."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..outage import Outage


class NamedLockLease:
    """A lease held as MariaDB/MySQL `GET_LOCK` on a connection of its own."""

    def __init__(self, engine: AsyncEngine, name: str, outage: Outage) -> None:
        # Lock names are at most 64 characters: keep long ones unique with a digest.
        if len(name) > 64:
            name = name[:40] + hashlib.sha256(name.encode()).hexdigest()[:24]
        self.name = name
        self._engine = engine
        self._outage = outage
        self._connection: AsyncConnection | None = None

    async def acquire(self) -> bool:
        """Take the lock if no connection holds it."""
        if self._connection is not None:
            return True
        with self._outage.during(f"take the handler lease {self.name!r}"):
            return await self._acquire()

    async def _acquire(self) -> bool:
        connection = await self._engine.connect()
        try:
            taken = await connection.scalar(sa.select(sa.func.get_lock(self.name, 0)))
            await connection.commit()
        except BaseException:
            await connection.close()
            raise
        if taken != 1:
            await connection.close()
            return False
        self._connection = connection
        return True

    async def check(self) -> bool:
        """Whether this lease's connection still holds the lock."""
        connection = self._connection
        if connection is None:
            return False
        try:
            mine = await connection.scalar(
                sa.select(sa.func.is_used_lock(self.name) == sa.func.connection_id())
            )
            await connection.commit()
        except sa_exc.DBAPIError:
            self._connection = None
            return False
        return bool(mine)

    async def release(self) -> None:
        """Release the lock and close its connection."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            await connection.scalar(sa.select(sa.func.release_lock(self.name)))
            await connection.commit()
        except sa_exc.DBAPIError as error:
            if not self._outage(error):
                raise
            # The connection is gone, and the server freed the lock with it.
        finally:
            await connection.close()
