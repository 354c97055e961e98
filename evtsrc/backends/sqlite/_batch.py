"""A transactional handler's batch on `SqliteBackend`'s writer connection."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from ..base import ParkedAggregate


class SqliteBatchTransaction:
    """A handler batch's transaction on the `SqliteBackend`'s writer connection.

    The handler's callbacks use `connection` directly, on the event loop's thread,
    while the backend's writer thread waits for the batch to end: keep their
    statements short. Do not commit or roll back through it.
    """

    def __init__(
        self,
        connection: sqlite3.Connection,
        move_bookmark: Callable[[str, int, int], Awaitable[None]],
        park: Callable[[str, ParkedAggregate], None],
        unpark: Callable[[str, str, str], None],
    ) -> None:
        self._connection = connection
        self._move_bookmark = move_bookmark
        self._park = park
        self._unpark = unpark
        self._savepoints = 0

    @property
    def connection(self) -> sqlite3.Connection:
        """The `sqlite3.Connection` to write the read model through."""
        return self._connection

    def savepoint(self) -> AbstractAsyncContextManager[object]:
        """A savepoint inside the batch's transaction."""
        return self._savepoint()

    @asynccontextmanager
    async def _savepoint(self) -> AsyncGenerator[object]:
        connection = self.connection
        self._savepoints += 1
        name = f"evtsrc_savepoint_{self._savepoints}"
        connection.execute(f"SAVEPOINT {name}")
        try:
            yield self
        except BaseException:
            connection.execute(f"ROLLBACK TO {name}")
            connection.execute(f"RELEASE {name}")
            raise
        connection.execute(f"RELEASE {name}")

    async def commit_bookmark(self, name: str, expected: int, position: int) -> None:
        """Move bookmark `name` from `expected` to `position`, or raise `BookmarkMoved`."""
        await self._move_bookmark(name, expected, position)

    async def park(self, handler: str, parked: ParkedAggregate) -> None:
        """Park an aggregate in this transaction: it commits with the batch."""
        self._park(handler, parked)

    async def unpark(self, handler: str, stream: str, aggregate_id: str) -> None:
        """Let a parked aggregate through in this transaction."""
        self._unpark(handler, stream, aggregate_id)
