"""A transactional handler's batch on a SQLAlchemy connection."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ..sql._bookmarks import bookmark_statements, check_unmoved


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
        """Move bookmark `name` from `expected` to `position`, or raise `BookmarkMoved`."""
        connection = self._connection
        table = connection.dialect.identifier_preparer.format_table(self._bookmarks)
        statements = bookmark_statements(table, ":")
        moved = await connection.execute(
            sa.text(statements.move), {"position": position, "name": name, "expected": expected}
        )
        if moved.rowcount == 1:
            return
        found = await connection.scalar(sa.text(statements.read), {"name": name})
        check_unmoved(name, expected, found)
        await connection.execute(sa.text(statements.insert), {"name": name, "position": position})
