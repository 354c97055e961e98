"""Transactional handlers on PostgreSQL: a batch's writes and its bookmark in one transaction."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from ..base import ParkedAggregate, check_unmoved
from ..sql._bookmarks import BookmarkStatements, ParkedStatements, parked_values
from ._connections import PoolConnection


class PgBatchTransaction:
    """A handler batch's transaction on an asyncpg connection."""

    def __init__(
        self, connection: PoolConnection, bookmarks: BookmarkStatements, parked: ParkedStatements
    ) -> None:
        self._connection = connection
        self._bookmarks = bookmarks
        self._parked = parked

    @property
    def connection(self) -> PoolConnection:
        """The connection to write the read model through."""
        return self._connection

    def savepoint(self) -> AbstractAsyncContextManager[object]:
        """A savepoint inside the batch's transaction."""
        return self._connection.transaction()

    async def commit_bookmark(self, name: str, expected: int, position: int) -> None:
        """Move bookmark `name` from `expected` to `position`, or raise `BookmarkMoved`."""
        sql = self._bookmarks
        if await self._connection.execute(sql.move, position, name, expected) == "UPDATE 1":
            return
        check_unmoved(name, expected, await self._connection.fetchval(sql.read, name))
        await self._connection.execute(sql.insert, name, position)

    async def park(self, handler: str, parked: ParkedAggregate) -> None:
        """Park an aggregate in this transaction: it commits with the batch."""
        await self._connection.execute(self._parked.store, handler, *parked_values(parked))

    async def unpark(self, handler: str, stream: str, aggregate_id: str) -> None:
        """Let a parked aggregate through in this transaction."""
        await self._connection.execute(self._parked.delete, handler, stream, aggregate_id)
