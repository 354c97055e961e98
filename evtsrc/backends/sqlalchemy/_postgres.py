"""`SqlAlchemyBackend` on PostgreSQL: `PostgresBackend`'s positions, statement and push.

A position is the writing transaction's id times 2**20 plus the event's index,
and readers see only positions below the oldest transaction still running:
writers never wait for each other, and a long-open transaction holds readers
back until it ends (see `pg_positions`). An append is `PostgresBackend`'s one
statement, autocommitted, with the NOTIFY in it. Leases are advisory locks and
the listener a LISTEN connection, both opened with asyncpg outside the engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from ..._errors import EventEncodeError
from ..._jsontypes import JSONObject
from .._support import jsontext
from .._support.lease import SharedSession
from ..base import (
    AppendListener,
    EventRecord,
    Lease,
    NewEvent,
    Once,
    UndecodablePayload,
    numbered,
)
from ..sql import _pg_positions as pg_positions
from ..sql._identifiers import quote
from ..sql._listing import Statement, code_point_probe, postgres_aggregates
from ..sql._tables import Tables
from ._dialect import Dialect, record_values
from ._errors import NUL_MESSAGE, UNIQUE_VIOLATION, UNTRANSLATABLE_CHARACTER, sqlstate

_HORIZON: sa.ColumnElement[int] = sa.literal_column(pg_positions.HORIZON)


class PostgresDialect(Dialect):
    """PostgreSQL through asyncpg."""

    _leases: SharedSession[Any, int] | None = None
    """The locks of every lease, on one asyncpg connection: opened with the first."""
    _ids_by_code_point: Statement | None = None
    """How aggregate ids are listed, once the events table's collation is known."""

    store = "PostgreSQL"

    @cached_property
    def _sql_append(self) -> str:
        return pg_positions.append_sql(quote(self.names.events), notify=True)

    @cached_property
    def _sql_append_once(self) -> str:
        processed = quote(self.names.processed)
        return pg_positions.append_sql(quote(self.names.events), notify=True, processed=processed)

    @property
    def channel(self) -> str:
        """The NOTIFY channel appends announce themselves on."""
        return self.names.events

    async def append(
        self,
        tables: Tables,
        stream: str,
        aggregate_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        once: Once | None = None,
    ) -> Sequence[EventRecord]:
        """The one statement `PostgresBackend` sends, committed on its own.

        With `once`, the statement that records its key first (`pg_positions.append_sql`).
        """
        metadata = jsontext.texts([e.metadata for e in events])
        arguments = pg_positions.append_arguments(
            stream, aggregate_id, expected_version, events, metadata, self.channel, once
        )
        statement = self._sql_append if once is None else self._sql_append_once
        with self.outage.appending(stream, aggregate_id) as sending:
            try:
                async with self.engine.connect() as connection:
                    sending.sent()
                    autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
                    result = await autocommit.exec_driver_sql(statement, arguments)
                    row = result.one()
            except sa_exc.DBAPIError as error:
                if sqlstate(error) == UNTRANSLATABLE_CHARACTER:
                    raise EventEncodeError(NUL_MESSAGE) from error
                raise
        first = pg_positions.outcome(row, stream, aggregate_id, expected_version, once)
        return numbered(stream, aggregate_id, expected_version, first, events, metadata)

    def is_version_clash(self, error: Exception) -> bool:
        """A unique violation of the version constraint, which the message names."""
        return (
            isinstance(error, sa_exc.IntegrityError)
            and self.names.version_constraint in str(error.orig)
            and sqlstate(error) == UNIQUE_VIOLATION
        )

    def payload_text(self, data: sa.Column[Any]) -> sa.ColumnElement[str]:
        """A cast to text: asyncpg would decode jsonb itself."""
        return sa.cast(data, sa.Text)

    def event_id_text(self, event_id: sa.Column[Any]) -> sa.ColumnElement[str]:
        """A cast to text: the column is a uuid."""
        return sa.cast(event_id, sa.Text)

    def payloads(self, texts: list[str]) -> list[JSONObject | UndecodablePayload]:
        """The page parsed in one go: the server validated every jsonb text."""
        return jsontext.loads_documents(texts)

    def visible(self, table: sa.Table, stream: str) -> list[sa.ColumnElement[bool]]:
        """Only positions below the oldest running transaction's (`pg_positions.HORIZON`)."""
        return [table.c.stream == stream, table.c.position < _HORIZON]

    async def aggregate_listing(self, connection: AsyncConnection) -> Statement:
        """The index's lookups where the collation sorts by code point, else `COLLATE "C"`.

        As `PostgresBackend` lists them: see `sql._listing`.
        """
        statement = self._ids_by_code_point
        if statement is None:
            result = await connection.exec_driver_sql(code_point_probe(self.names).text)
            row = result.first()
            statement = postgres_aggregates(self.names, row)
            if row is not None:
                self._ids_by_code_point = statement
        return statement

    def store_bookmark(self, table: sa.Table, name: str, position: int) -> sa.Executable:
        """`INSERT ... ON CONFLICT DO UPDATE`."""
        upsert = pg_dialect.insert(table).values(name=name, position=position)
        return upsert.on_conflict_do_update(
            index_elements=[table.c.name], set_={"position": upsert.excluded.position}
        )

    def record_processed(self, table: sa.Table, once: Once) -> sa.Executable:
        """`INSERT ... ON CONFLICT DO NOTHING`."""
        return pg_dialect.insert(table).values(record_values(once)).on_conflict_do_nothing()

    def store_member(self, table: sa.Table, group: str, member: str, expires: int) -> sa.Executable:
        """`INSERT ... ON CONFLICT DO UPDATE`."""
        upsert = pg_dialect.insert(table).values(group_name=group, member=member, expires=expires)
        return upsert.on_conflict_do_update(
            index_elements=[table.c.group_name, table.c.member],
            set_={"expires": upsert.excluded.expires},
        )

    def lease(self, name: str) -> Lease | None:
        """An advisory lock on the leases' asyncpg connection (one for all of them)."""
        from .._support.outage import DEFAULT_TIMEOUT
        from ..sql._pg_lease import advisory_key, advisory_leases

        if self._leases is None:
            self._leases = advisory_leases(
                self._asyncpg_connect, _close_asyncpg, _terminate_asyncpg, timeout=DEFAULT_TIMEOUT
            )
        return self._leases.lease(advisory_key(self.names.events, name), "taking a handler lease")

    async def lease_holder(self, name: str, scope: object) -> str | None:
        """The session holding the advisory lock of `name` (`pg_locks`, `pg_stat_activity`)."""
        from ..sql._pg_lease import advisory_key, holder_description, holder_sql, key_parts

        classid, objid = key_parts(advisory_key(self.names.events, name))
        statement = sa.text(holder_sql(":classid", ":objid"))
        with self.outage.during(f"find who holds lease {name!r}"):
            async with self.engine.connect() as connection:
                result = await connection.execute(statement, {"classid": classid, "objid": objid})
                row = result.first()
        return holder_description(row)

    async def _asyncpg_connect(self) -> Any:
        import asyncpg

        with self.outage.during("connect for a handler lease"):
            return await asyncpg.connect(self._libpq_url(), timeout=self.connect_timeout)

    def _libpq_url(self) -> str:
        return self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def listen(self, streams: Sequence[str]) -> AppendListener | None:
        """A LISTEN connection woken by every commit."""
        from ..sql._pg_listen import PgListener

        with self.outage.during("listen for appends"):
            return await PgListener.open(self._libpq_url(), self.channel, streams)


async def _close_asyncpg(connection: Any) -> None:
    await connection.close()


async def _terminate_asyncpg(connection: Any) -> None:
    connection.terminate()
