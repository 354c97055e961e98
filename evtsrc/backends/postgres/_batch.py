"""Transactional handlers on PostgreSQL: a batch's writes and its bookmark in one transaction."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from ...errors import BookmarkMoved
from ._connections import PoolConnection


class PgBatchTransaction:
    """A handler batch's transaction on an asyncpg connection."""

    def __init__(self, connection: PoolConnection, bookmarks: str) -> None:
        self._connection = connection
        self._bookmarks = bookmarks

    @property
    def connection(self) -> PoolConnection:
        """The connection to write the read model through."""
        return self._connection

    def savepoint(self) -> AbstractAsyncContextManager[object]:
        """A savepoint inside the batch's transaction."""
        return self._connection.transaction()

    async def commit_bookmark(self, name: str, expected: int, position: int) -> None:
        """Move bookmark `name` from `expected` to `position`, or raise `BookmarkMoved`."""
        found: int | None = await self._connection.fetchval(
            f"INSERT INTO {self._bookmarks} AS b (name, position) VALUES ($1, $3) "
            "ON CONFLICT (name) DO UPDATE SET position = excluded.position "
            "WHERE b.position = $2 RETURNING position",
            name,
            expected,
            position,
        )
        if found is None or (expected != 0 and found != position):
            current = await self._connection.fetchval(
                f"SELECT position FROM {self._bookmarks} WHERE name = $1", name
            )
            raise BookmarkMoved(name, expected, current)
