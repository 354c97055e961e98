"""Handler leases held as a database lock on a connection of the lease's own.

The lock belongs to that connection's session, so the server frees it when the
connection closes: a runner that dies, even by SIGKILL, gives the lease up at once,
and a lease whose connection is lost is lost. `ConnectionLease` keeps that
bookkeeping; a `SessionLock` says how one database takes, checks and frees its lock.
"""

from __future__ import annotations

import asyncio
from typing import Generic, Protocol, TypeVar

from .outage import Outage

C = TypeVar("C")


class SessionLock(Protocol[C]):
    """One database's lock held by a session, for a `ConnectionLease` on connections `C`."""

    async def connect(self) -> C:
        """A connection for the lease alone, in a bounded time."""
        ...

    async def try_lock(self, connection: C) -> bool:
        """Take the lock on `connection` if it is free, without waiting for it; whether taken."""
        ...

    async def holds(self, connection: C) -> bool:
        """Whether `connection`'s session still holds the lock; raise if it failed."""
        ...

    async def give_back(self, connection: C) -> None:
        """Free the lock and let `connection` go, in a bounded time; errors are handled here."""
        ...

    async def discard(self, connection: C) -> None:
        """End `connection`'s session, which failed or is in doubt: the server frees its lock.

        Not back to a pool as it is: a session still alive would keep the lock.
        """
        ...

    def lost(self, error: Exception) -> bool:
        """Whether `error`, met on the lease's connection, means the connection is lost."""
        ...


class ConnectionLease(Generic[C]):
    """A `Lease` held as `lock` on a connection of its own.

    Taking and checking the lock take at most `timeout` seconds each; a check that
    fails or runs out of time means the lease is lost. `outage` turns the errors of an
    unreachable server met while taking it into `StoreUnavailable` for `action`.
    """

    def __init__(
        self, lock: SessionLock[C], *, outage: Outage, action: str, timeout: float
    ) -> None:
        self._lock = lock
        self._outage = outage
        self._action = action
        self._timeout = timeout
        self._connection: C | None = None

    async def acquire(self) -> bool:
        """Take the lock if no session holds it."""
        if self._connection is not None:
            return True
        with self._outage.during(self._action):
            connection = await self._lock.connect()
            try:
                async with asyncio.timeout(self._timeout):
                    taken = await self._lock.try_lock(connection)
            except BaseException:
                await self._lock.discard(connection)
                raise
        if not taken:
            await self._lock.give_back(connection)
            return False
        self._connection = connection
        return True

    async def check(self) -> bool:
        """Whether the lock's connection still holds it; once not, the lease is lost."""
        connection = self._connection
        if connection is None:
            return False
        try:
            async with asyncio.timeout(self._timeout):
                held = await self._lock.holds(connection)
        except Exception as error:
            if not isinstance(error, TimeoutError) and not self._lock.lost(error):
                raise
            held = False
        if not held:
            self._connection = None
            await self._lock.discard(connection)
        return held

    async def release(self) -> None:
        """Give the lock and its connection up."""
        connection, self._connection = self._connection, None
        if connection is not None:
            await self._lock.give_back(connection)
