"""A transactional handler's batch on a SQLAlchemy connection."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection

from ..._errors import BookmarkMoved
from ..base import check_unmoved


class SqlBatchTransaction:
    """A handler batch's transaction on a SQLAlchemy connection."""

    def __init__(self, connection: AsyncConnection, bookmarks: sa.Table) -> None:
        self._connection = connection
        self._bookmarks = bookmarks

    @property
    def connection(self) -> AsyncConnection:
        """The connection to write the read model through."""
        return self._connection

    def savepoint(self) -> AbstractAsyncContextManager[object]:
        """A savepoint inside the batch's transaction."""
        return self._connection.begin_nested()

    async def commit_bookmark(self, name: str, expected: int, position: int) -> None:
        """Move bookmark `name` from `expected` to `position`, or raise `BookmarkMoved`.

        A row that exists is read locked (`FOR UPDATE`) and then changed; a missing one
        is inserted. A missing row is looked for without a lock: on MariaDB a locking
        read or an `UPDATE` that finds nothing locks the gap, and two runners
        inserting their first bookmarks into one gap would deadlock.
        """
        connection = self._connection
        table = self._bookmarks
        where = table.c.name == name
        if await connection.scalar(sa.select(table.c.position).where(where)) is None:
            check_unmoved(name, expected, None)
            try:
                await connection.execute(sa.insert(table).values(name=name, position=position))
            except sa_exc.IntegrityError:  # another runner stored it first
                raise BookmarkMoved(name, expected, None) from None
            return
        found = await connection.scalar(sa.select(table.c.position).where(where).with_for_update())
        if found != expected:
            raise BookmarkMoved(name, expected, found)
        await connection.execute(sa.update(table).where(where).values(position=position))
