"""A transactional handler's batch on a SQLAlchemy connection."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection

from ..._errors import BookmarkMoved
from ..base import ParkedAggregate, check_unmoved


class SqlBatchTransaction:
    """A handler batch's transaction on a SQLAlchemy connection."""

    def __init__(self, connection: AsyncConnection, bookmarks: sa.Table, parked: sa.Table) -> None:
        self._connection = connection
        self._bookmarks = bookmarks
        self._parked = parked

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

    async def park(self, handler: str, parked: ParkedAggregate) -> None:
        """Park an aggregate in this transaction: it commits with the batch."""
        await park_on(self._connection, self._parked, handler, parked)

    async def unpark(self, handler: str, stream: str, aggregate_id: str) -> None:
        """Let a parked aggregate through in this transaction."""
        await self._connection.execute(
            unpark_statement(self._parked, handler, stream, aggregate_id)
        )


async def park_on(
    connection: AsyncConnection, table: sa.Table, handler: str, parked: ParkedAggregate
) -> None:
    """Store `parked` for `handler` in `connection`'s transaction, replacing what was."""
    where = (
        table.c.name == handler,
        table.c.stream == parked.stream,
        table.c.aggregate_id == parked.aggregate_id,
    )
    values = {
        "version": parked.version,
        "position": parked.position,
        "error": parked.error,
        "parked_at": parked.parked_at,
    }
    # Looked for without a lock: on MariaDB an UPDATE that finds nothing locks the gap.
    if await connection.scalar(sa.select(sa.literal(1)).where(*where)) is None:
        row = {"name": handler, "stream": parked.stream, "aggregate_id": parked.aggregate_id}
        await connection.execute(sa.insert(table).values(**row, **values))
    else:
        await connection.execute(sa.update(table).where(*where).values(**values))


def unpark_statement(table: sa.Table, handler: str, stream: str, aggregate_id: str) -> sa.Delete:
    """Delete what `handler` parked of that aggregate."""
    return sa.delete(table).where(
        table.c.name == handler, table.c.stream == stream, table.c.aggregate_id == aggregate_id
    )
