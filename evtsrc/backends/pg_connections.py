"""Pooled asyncpg connections kept checked out between the backend's own statements.

asyncpg's `Pool.release` shields a new task on every release, which costs event-loop
turns: about 60 µs a statement here, a tenth of a durable one-statement append. The
backend's statements leave no session state and no open transaction, so between two
of them a connection can stay out of the pool, ready for the next.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TypeAlias

import asyncpg

PoolConnection: TypeAlias = "asyncpg.pool.PoolConnectionProxy[asyncpg.Record]"


class HeldConnections:
    """Connections of `pool`, of which at most `limit` are out at a time and idle ones kept.

    With `limit` 0 every connection goes back to the pool at once (for a pool the
    backend shares). Otherwise a statement past the limit waits for one of these
    connections, which is handed straight to it. A connection a statement failed
    on (a server error, a broken socket, a cancellation), or one lent to other code,
    goes back to the pool, which resets or replaces it.
    """

    def __init__(self, pool: asyncpg.Pool, limit: int) -> None:
        self.pool = pool
        self.limit = limit
        self._idle: list[PoolConnection] = []
        self._out = 0  # taken from the pool and not given back yet
        self._waiters: deque[asyncio.Future[PoolConnection | None]] = deque()

    async def take(self) -> PoolConnection:
        """An idle connection, a new one from the pool, or the next one given back."""
        while True:
            if self._idle:
                return self._idle.pop()
            if not self.limit or self._out < self.limit:
                self._out += 1
                try:
                    connection: PoolConnection = await self.pool.acquire()
                except BaseException:
                    self._gone()
                    raise
                return connection
            waiter: asyncio.Future[PoolConnection | None] = (
                asyncio.get_running_loop().create_future()
            )
            self._waiters.append(waiter)
            try:
                handed = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():  # handed over as it was cancelled
                    self._pass_on(waiter.result())
                raise
            if handed is not None:
                return handed  # else a connection went back to the pool: try again

    async def done(self, connection: PoolConnection) -> None:
        """Keep `connection`, whose statement succeeded, for the next statement."""
        if not self.limit or connection.is_closed():
            await self.give_back(connection)
        else:
            self._pass_on(connection)

    async def give_back(self, connection: PoolConnection) -> None:
        """Return `connection` to the pool (after a failure, or from code it was lent to)."""
        try:
            await self.pool.release(connection)
        finally:
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
