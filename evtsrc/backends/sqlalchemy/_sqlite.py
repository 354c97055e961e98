"""`SqlAlchemyBackend` on SQLite: one writer at a time, so positions commit in order.

Appends and handler batches begin with `BEGIN IMMEDIATE`, which takes SQLite's
write lock at once; every other transaction with a plain `BEGIN`. Leases are
lock files beside the database, the same `SqliteBackend` takes.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import sqlite as sqlite_dialect

from .._support.leases import FileLease, file_lease_holder
from ..base import Lease, Once
from ..sql._sqlite_errors import version_clash_message
from ._dialect import Dialect, record_values


def _sqlite_connect(dbapi_connection: Any, _: object) -> None:
    # Let the begin hook below issue BEGIN itself, and make the file fit for concurrent use.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "busy_timeout=30000",
        "synchronous=NORMAL",
        "foreign_keys=ON",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_begin(connection: sa.Connection) -> None:
    write = connection.get_execution_options().get("evtsrc_write", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class SqliteDialect(Dialect):
    """SQLite through aiosqlite."""

    store = "SQLite"
    write_options: ClassVar[Mapping[str, object]] = {"evtsrc_write": True}

    def prepare_engine(self) -> None:
        """Set the pragmas on each new connection; begin writes IMMEDIATE, reads deferred."""
        sa_event.listen(self.engine.sync_engine, "connect", _sqlite_connect)
        sa_event.listen(self.engine.sync_engine, "begin", _sqlite_begin)

    @cached_property
    def _version_clash(self) -> str:
        return version_clash_message(self.names)

    def is_version_clash(self, error: Exception) -> bool:
        """SQLite names the columns of the version constraint it found broken."""
        return isinstance(error, sa_exc.IntegrityError) and self._version_clash in str(error.orig)

    def store_bookmark(self, table: sa.Table, name: str, position: int) -> sa.Executable:
        """`INSERT ... ON CONFLICT DO UPDATE`."""
        upsert = sqlite_dialect.insert(table).values(name=name, position=position)
        return upsert.on_conflict_do_update(
            index_elements=[table.c.name], set_={"position": upsert.excluded.position}
        )

    def record_processed(self, table: sa.Table, once: Once) -> sa.Executable:
        """`INSERT ... ON CONFLICT DO NOTHING`."""
        return sqlite_dialect.insert(table).values(record_values(once)).on_conflict_do_nothing()

    def store_member(self, table: sa.Table, group: str, member: str, expires: int) -> sa.Executable:
        """`INSERT ... ON CONFLICT DO UPDATE`."""
        upsert = sqlite_dialect.insert(table).values(
            group_name=group, member=member, expires=expires
        )
        return upsert.on_conflict_do_update(
            index_elements=[table.c.group_name, table.c.member],
            set_={"expires": upsert.excluded.expires},
        )

    def lease(self, name: str) -> Lease | None:
        """A lock on a file beside the database (in-process only for in-memory SQLite)."""
        file = self._lease_file(name)
        return None if file is None else FileLease(*file)

    async def lease_holder(self, name: str, scope: object) -> str | None:
        """The label its holder wrote in the lock file, if a process holds the lock."""
        file = self._lease_file(name)
        if file is None:
            return await super().lease_holder(name, scope)
        return await file_lease_holder(*file)

    def _lease_file(self, name: str) -> tuple[Path, str, str] | None:
        """Where `FileLease` keeps the lock of `name`; None for an in-memory database."""
        database = self.engine.url.database
        if database and database != ":memory:" and not database.startswith("file:"):
            folder = Path(database).resolve().parent
            return folder, f"{Path(database).name}:{self.names.events}", name
        return None
