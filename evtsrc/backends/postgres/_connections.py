"""Pooled asyncpg connections kept checked out between the backend's own statements.

Giving a connection back to an asyncpg pool costs event-loop turns on every release
(see docs/performance.md). The backend's statements leave no session state and no
open transaction, so between two of them a connection can stay out of the pool,
ready for the next.

The accounting is what makes this safe: `_out` counts every connection taken from
the pool and not yet accounted for, idle or in use. A connection leaves that count
in exactly one way, `_gone()`, called when it is given back to the pool or thrown
away; one found closed is thrown away too, which also gives its place back to the
pool (asyncpg does that itself for most closed connections, not for all). A
connection is handed to one user at a time and
never used after it was given back, because `take()` hands out only live ones and
every user gives its connection back, keeps it, or throws it away exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import TypeAlias

import asyncpg

PoolConnection: TypeAlias = "asyncpg.pool.PoolConnectionProxy[asyncpg.Record]"

log = logging.getLogger("evtsrc.backends.postgres")


def usable(connection: PoolConnection) -> bool:
    """Whether `connection` is open and still lent out by its pool."""
    try:
        return not connection.is_closed()
    except asyncpg.InterfaceError:  # released: the pool took it back when it closed
        return False


class HeldConnections:
    """Connections of `pool`, of which at most `limit` are out at a time and idle ones kept.

    With `limit` 0 every connection goes back to the pool at once (for a pool the
    backend shares). Otherwise a statement past the limit waits for one of these
    connections, which is handed straight to it. A connection a statement failed
    on (a server error, a broken socket, a cancellation), or one lent to other code,
    goes back to the pool, which resets or replaces it. Waiting for a connection,
    from the pool or from another statement, takes at most `timeout` seconds and
    then raises `TimeoutError`.
    """

    def __init__(self, pool: asyncpg.Pool, limit: int, timeout: float) -> None:
        self.pool = pool
        self.limit = limit
        self.timeout = timeout
        self._idle: list[PoolConnection] = []
        self._out = 0  # taken from the pool and not accounted for since, idle or in use
        self._waiters: deque[asyncio.Future[PoolConnection | None]] = deque()

    @property
    def out(self) -> int:
        """How many connections are taken from the pool (idle here or in use)."""
        return self._out

    async def take(self) -> PoolConnection:
        """A live idle connection, a new one from the pool, or the next one given back."""
        while self._idle:
            connection = self._idle.pop()
            if usable(connection):
                return connection
            self.discard(connection)  # it closed while idle
        async with asyncio.timeout(self.timeout):
            while True:
                if not self.limit or self._out < self.limit:
                    return await self._acquire()
                handed = await self._wait()
                if handed is not None and usable(handed):
                    return handed
                if handed is not None:
                    self.discard(handed)
                # else a connection went back to the pool: try again

    async def _acquire(self) -> PoolConnection:
        self._out += 1
        try:
            connection: PoolConnection = await self.pool.acquire()
        except BaseException:
            self._gone()
            raise
        return connection

    async def _wait(self) -> PoolConnection | None:
        waiter: asyncio.Future[PoolConnection | None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # handed over as it was cancelled
                self._pass_on(waiter.result())
            raise

    async def done(self, connection: PoolConnection) -> None:
        """Keep `connection`, whose statement succeeded, for the next statement."""
        if not self.limit:
            await self.give_back(connection)
        elif usable(connection):
            self._pass_on(connection)
        else:
            self.discard(connection)

    async def give_back(self, connection: PoolConnection) -> None:
        """Return `connection` to the pool (after a failure, or from code it was lent to).

        asyncpg resets it on the way, or closes it if that fails: either way it is
        the pool's again, so a failure here is logged rather than raised.
        """
        try:
            await self.pool.release(connection)
        except Exception as error:  # the pool replaced it
            log.debug("giving a connection back failed: %r", error)
        finally:
            self._gone()

    def discard(self, connection: PoolConnection) -> None:
        """Close `connection`, whose session state is not to be trusted, and forget it.

        Also for one found closed: asyncpg can see a connection close without giving
        its place back to the pool, and terminating it does. The pool opens a new one
        in its place when one is next needed.
        """
        with contextlib.suppress(asyncpg.InterfaceError):  # released: the pool has it back
            connection.terminate()
        self._gone()

    async def release_all(self) -> None:
        """Give every idle connection back to the pool (before closing it)."""
        idle, self._idle = self._idle, []
        for connection in idle:
            await self.give_back(connection)

    def _pass_on(self, connection: PoolConnection | None) -> None:
        """Hand `connection` to the first statement waiting, or keep it idle."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        if connection is not None:
            self._idle.append(connection)

    def _gone(self) -> None:
        """One connection fewer is out: a waiting statement may take one from the pool."""
        self._out -= 1
        self._pass_on(None)
