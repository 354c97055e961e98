"""`SqlAlchemyBackend` on MariaDB/MySQL: appends hold a named lock, so positions commit in order.

An append takes the event store's named lock (`GET_LOCK`) before it inserts and
releases it once committed: independent writers queue on it. Handler leases are
named locks too, held together on one connection of their own.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import mysql as mysql_dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from .._support.lease import SharedSession
from ..base import Lease, Once
from ._dialect import Dialect, record_values
from ._errors import AppendLockTimeout
from ._named_lock import HOLDER_SQL, holder_description, lock_name, named_lock_leases

DUPLICATE_ENTRY = 1062
"""The server's error for a duplicate key."""


class MariaDbDialect(Dialect):
    """MariaDB or MySQL through asyncmy (or another MySQL driver)."""

    _leases: SharedSession[AsyncConnection, str] | None = None
    """The locks of every lease, on one connection: opened with the first."""

    store = "MariaDB/MySQL"

    @property
    def lock_name(self) -> str:
        """The event store's append lock (lock names are at most 64 characters)."""
        return f"evtsrc:{self.names.events}"[:64]

    @asynccontextmanager
    async def writing(self) -> AsyncGenerator[AsyncConnection]:
        """A transaction inside the append lock: taken before it begins, released after."""
        async with self.engine.connect() as connection:
            await self._get_lock(connection)
            try:
                async with connection.begin():
                    yield connection
            finally:
                await connection.execute(sa.select(sa.func.release_lock(self.lock_name)))

    async def _get_lock(self, connection: AsyncConnection) -> None:
        got = await connection.scalar(
            sa.select(sa.func.get_lock(self.lock_name, self.lock_timeout))
        )
        await connection.commit()
        if got != 1:
            raise AppendLockTimeout(
                f"could not take the append lock {self.lock_name!r} within {self.lock_timeout} s"
            )

    def is_version_clash(self, error: Exception) -> bool:
        """A duplicate entry for the version constraint, which the message names."""
        if not isinstance(error, sa_exc.IntegrityError):
            return False
        args: tuple[object, ...] = error.orig.args if error.orig is not None else ()
        return (
            bool(args)
            and args[0] == DUPLICATE_ENTRY
            and f"'{self.names.version_constraint}'" in str(error.orig).replace("`", "'")
        )

    def store_bookmark(self, table: sa.Table, name: str, position: int) -> sa.Executable:
        """`INSERT ... ON DUPLICATE KEY UPDATE`."""
        insert = mysql_dialect.insert(table).values(name=name, position=position)
        return insert.on_duplicate_key_update(position=insert.inserted.position)

    def record_processed(self, table: sa.Table, once: Once) -> sa.Executable:
        """`INSERT ... ON DUPLICATE KEY UPDATE` that changes nothing but `LAST_INSERT_ID`.

        SQLAlchemy's MySQL drivers connect with `CLIENT_FOUND_ROWS`, under which a row
        found and left as it was counts as affected, as an inserted one does: the count
        cannot tell. The update of a key recorded before sets `LAST_INSERT_ID(1)`, which
        the server returns as the statement's insert id (0 when it inserted, as the table
        numbers nothing): `recorded_before` reads that. No `INSERT IGNORE`: it would turn
        other errors (a key too long, truncated) into warnings.
        """
        insert = mysql_dialect.insert(table).values(record_values(once))
        inbox = table.c.inbox
        return insert.on_duplicate_key_update(
            inbox=sa.func.if_(sa.func.last_insert_id(1), inbox, inbox)
        )

    def recorded_before(self, result: sa.CursorResult[Any]) -> bool:
        """Whether `record_processed` set `LAST_INSERT_ID(1)`: it found its key recorded."""
        return result.lastrowid == 1

    def store_member(self, table: sa.Table, group: str, member: str, expires: int) -> sa.Executable:
        """`INSERT ... ON DUPLICATE KEY UPDATE`."""
        insert = mysql_dialect.insert(table).values(
            group_name=group, member=member, expires=expires
        )
        return insert.on_duplicate_key_update(expires=insert.inserted.expires)

    def lease(self, name: str) -> Lease | None:
        """A named lock on the leases' connection (one for all of them)."""
        if self._leases is None:
            self._leases = named_lock_leases(self.engine, self.outage)
        key = self._lock_name(name)
        return self._leases.lease(key, f"take the handler lease {key!r}")

    async def lease_holder(self, name: str, scope: object) -> str | None:
        """The connection holding the named lock of `name` (`IS_USED_LOCK`), and its host."""
        key = self._lock_name(name)
        with self.outage.during(f"find who holds the handler lease {key!r}"):
            async with self.engine.connect() as connection:
                row = (await connection.execute(sa.text(HOLDER_SQL), {"name": key})).first()
        return holder_description(row)

    def _lock_name(self, name: str) -> str:
        return lock_name(f"evtsrc:{self.names.events}:{name}")
