"""Handler leases held as database locks of one session, shared by a backend's leases.

A lock belongs to its connection's session, so the server frees it when the
connection closes: a runner that dies, even by SIGKILL, gives its leases up at once,
and leases whose connection is lost are lost. All the leases of one backend hold
their locks on one connection (`SharedSession`), however many handlers and buckets
they cover, so a worker holding many buckets keeps one connection for them, not one
each. A `SessionLocks` says how one database takes, checks and frees its locks.
"""

from __future__ import annotations

import asyncio
from typing import Generic, Protocol, TypeVar

from .outage import Outage

C = TypeVar("C")
K = TypeVar("K")
K_contra = TypeVar("K_contra", contravariant=True)


class SessionLocks(Protocol[C, K_contra]):
    """One database's locks held by a session, by key, on connections `C`."""

    async def connect(self) -> C:
        """A connection for the leases alone, in a bounded time."""
        ...

    async def try_lock(self, connection: C, key: K_contra) -> bool:
        """Take lock `key` on `connection` if it is free, without waiting; whether taken."""
        ...

    async def holds(self, connection: C, key: K_contra) -> bool:
        """Whether `connection`'s session still holds lock `key`; raise if it failed."""
        ...

    async def unlock(self, connection: C, key: K_contra) -> None:
        """Free lock `key` held by `connection`'s session."""
        ...

    async def give_back(self, connection: C) -> None:
        """Free every lock and let `connection` go, in a bounded time; errors handled here."""
        ...

    async def discard(self, connection: C) -> None:
        """End `connection`'s session, which failed or is in doubt: the server frees its locks.

        Not back to a pool as it is: a session still alive would keep the locks.
        """
        ...

    def lost(self, error: Exception) -> bool:
        """Whether `error`, met on the leases' connection, means the connection is lost."""
        ...


class SharedSession(Generic[C, K]):
    """The locks of a backend's leases, held on one connection opened for them.

    The connection opens with the first lease taken and is given back when the last
    one is freed. Each statement takes at most `timeout` seconds, one at a time; a
    statement that fails, runs out of time or is cancelled half way ends the session
    (the server frees its locks), and every lease on it is lost. A key is held by one
    lease at a time, also within this process (a session may take its own lock again).
    `outage` turns the errors of an unreachable server, met while taking a lease, into
    `StoreUnavailable`.
    """

    def __init__(self, locks: SessionLocks[C, K], *, outage: Outage, timeout: float) -> None:
        self._locks = locks
        self._outage = outage
        self._timeout = timeout
        self._connection: C | None = None
        self._held: set[K] = set()
        self._turn: asyncio.Lock | None = None

    def lease(self, key: K, action: str) -> SessionLease[C, K]:
        """A lease of lock `key`, not yet taken; `action` names it in errors."""
        return SessionLease(self, key, action)

    def _mutex(self) -> asyncio.Lock:
        if self._turn is None:
            self._turn = asyncio.Lock()
        return self._turn

    async def take(self, key: K, action: str) -> bool:
        """Take lock `key` if no session (nor another lease of this one) holds it."""
        async with self._mutex():
            if key in self._held:
                return False
            with self._outage.during(action):
                connection = self._connection
                if connection is None:
                    async with asyncio.timeout(self._timeout):
                        connection = self._connection = await self._locks.connect()
                try:
                    async with asyncio.timeout(self._timeout):
                        taken = await self._locks.try_lock(connection, key)
                except BaseException:
                    await self._end()
                    raise
            if taken:
                self._held.add(key)
            elif not self._held:
                await self._give_back()
            return taken

    async def holds(self, key: K) -> bool:
        """Whether the session still holds lock `key`; once not, it is forgotten."""
        if key not in self._held:
            return False
        async with self._mutex():
            connection = self._connection
            if key not in self._held or connection is None:
                return False
            try:
                async with asyncio.timeout(self._timeout):
                    held = await self._locks.holds(connection, key)
            except Exception as error:
                if not isinstance(error, TimeoutError) and not self._locks.lost(error):
                    raise
                await self._end()
                return False
            except BaseException:  # cancelled mid-statement: the connection is in doubt
                await self._end()
                raise
            if not held:
                self._held.discard(key)
                if not self._held:
                    await self._give_back()
            return held

    async def free(self, key: K) -> None:
        """Free lock `key`; the connection goes with the last lock."""
        async with self._mutex():
            connection = self._connection
            if key not in self._held or connection is None:
                return
            self._held.discard(key)
            if not self._held:
                await self._give_back()
                return
            try:
                async with asyncio.timeout(self._timeout):
                    await self._locks.unlock(connection, key)
            except Exception as error:
                if not isinstance(error, TimeoutError) and not self._locks.lost(error):
                    raise
                await self._end()  # the server frees the locks with the session
            except BaseException:  # cancelled: the lock may still be held, with no lease
                await self._end()
                raise

    async def _give_back(self) -> None:
        connection, self._connection = self._connection, None
        self._held.clear()
        if connection is not None:
            await self._locks.give_back(connection)

    async def _end(self) -> None:
        connection, self._connection = self._connection, None
        self._held.clear()
        if connection is not None:
            await self._locks.discard(connection)


class SessionLease(Generic[C, K]):
    """A `Lease`: lock `key` of a `SharedSession`."""

    def __init__(self, session: SharedSession[C, K], key: K, action: str) -> None:
        self._session = session
        self.key = key
        self._action = action
        self._mine = False

    async def acquire(self) -> bool:
        """Take the lock if it is free."""
        if not self._mine:
            self._mine = await self._session.take(self.key, self._action)
        return self._mine

    async def check(self) -> bool:
        """Whether the session still holds the lock; once not, the lease is lost."""
        if self._mine:
            self._mine = await self._session.holds(self.key)
        return self._mine

    async def release(self) -> None:
        """Give the lock up."""
        if self._mine:
            self._mine = False
            await self._session.free(self.key)
