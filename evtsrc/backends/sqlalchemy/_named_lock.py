"""Handler leases on MariaDB/MySQL: named locks (`GET_LOCK`) on a connection of their own."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .._support.lease import SharedSession
from .._support.outage import DEFAULT_TIMEOUT, Outage

MAX_LOCK_NAME = 64
"""The longest lock name MariaDB and MySQL take."""


def lock_name(name: str) -> str:
    """`name` as a lock name: long ones cut, and kept unique with a digest."""
    if len(name) > MAX_LOCK_NAME:
        return name[:40] + hashlib.sha256(name.encode()).hexdigest()[:24]
    return name


HOLDER_SQL = (
    "SELECT l.id, p.USER, p.HOST FROM (SELECT IS_USED_LOCK(:name) AS id) AS l "
    "LEFT JOIN information_schema.PROCESSLIST AS p ON p.ID = l.id"
)
"""The connection holding lock :name (NULL if none), with its user and client host."""


def holder_description(row: Sequence[Any] | None) -> str | None:
    """Who holds a lock, from the row of `HOLDER_SQL`: None if no connection holds it.

    The server knows the holder's connection id and client host (and port), not its
    process: the process list shows no more without the performance schema.
    """
    if row is None or row[0] is None:
        return None
    connection, user, host = row
    found = f"MariaDB/MySQL connection {connection}"
    return found if host is None else f"{found} ({user}@{host})"


def named_lock_leases(engine: AsyncEngine, outage: Outage) -> SharedSession[AsyncConnection, str]:
    """A backend's leases, as named locks on one connection of `engine`'s."""
    return SharedSession(NamedLocks(engine, outage), outage=outage, timeout=DEFAULT_TIMEOUT)


class NamedLocks:
    """The `SessionLocks` of MariaDB/MySQL handler leases: `GET_LOCK(name, 0)`."""

    def __init__(self, engine: AsyncEngine, outage: Outage) -> None:
        self._engine = engine
        self._outage = outage

    async def connect(self) -> AsyncConnection:
        """A connection of the engine's, for the locks alone."""
        return await self._engine.connect()

    async def try_lock(self, connection: AsyncConnection, key: str) -> bool:
        """Take the lock if no session holds it; whether taken."""
        taken = await connection.scalar(sa.select(sa.func.get_lock(key, 0)))
        await connection.commit()
        return taken == 1

    async def holds(self, connection: AsyncConnection, key: str) -> bool:
        """Whether this connection's session holds the lock."""
        mine = await connection.scalar(
            sa.select(sa.func.is_used_lock(key) == sa.func.connection_id())
        )
        await connection.commit()
        return bool(mine)

    async def unlock(self, connection: AsyncConnection, key: str) -> None:
        """Release the lock."""
        await connection.scalar(sa.select(sa.func.release_lock(key)))
        await connection.commit()

    async def give_back(self, connection: AsyncConnection) -> None:
        """Release every lock and close the connection."""
        try:
            await connection.scalar(sa.select(sa.func.release_all_locks()))
            await connection.commit()
        except sa_exc.DBAPIError as error:
            if not self._outage(error):
                raise
            # The connection is gone, and the server freed the locks with it.
        finally:
            await connection.close()

    async def discard(self, connection: AsyncConnection) -> None:
        """End the connection's session, so the server frees the locks."""
        await connection.invalidate()
        await connection.close()

    def lost(self, error: Exception) -> bool:
        """Whether `error` is the driver's: the connection is in doubt."""
        return isinstance(error, sa_exc.DBAPIError)
