"""`SqlAlchemyBackend`: event storage on SQLAlchemy 2 Core with async engines.

What differs between SQLite, MariaDB/MySQL and PostgreSQL is in the backend's
`Dialect` (`_alchemy_sqlite`, `_alchemy_mariadb`, `_alchemy_postgres`), chosen
once from the engine; everything here is the same on all three.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncGenerator, Sequence
from contextlib import asynccontextmanager
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from ..._errors import BookmarkMoved
from .._support import jsontext
from .._support.buckets import KeyedPage, read_bucket
from ..base import (
    NOT_READ,
    AppendListener,
    Backend,
    Bucket,
    EventRecord,
    Lease,
    NewEvent,
    Once,
    ParkedAggregate,
    SnapshotRecord,
    expiry_millis,
    listed,
    live_members,
    unexpired,
)
from ..names import TableNames
from ..sql._buckets import FILL_BATCH, NO_POSITION_ABOVE, fill_values
from ._batch import SqlBatchTransaction, park_on, unpark_statement
from ._dialect import Dialect
from ._mariadb import MariaDbDialect
from ._postgres import PostgresDialect
from ._sqlite import SqliteDialect

_DIALECTS: dict[str, type[Dialect]] = {
    "sqlite": SqliteDialect,
    "mysql": MariaDbDialect,
    "mariadb": MariaDbDialect,
    "postgresql": PostgresDialect,
}


def _engine_options(url: str, pool_timeout: float, connect_timeout: float) -> dict[str, Any]:
    """Bounded waits for a connection, for an engine this backend creates."""
    parsed = make_url(url)
    options: dict[str, Any] = {}
    if parsed.get_backend_name() != "sqlite":  # SQLite's pools take no timeout argument
        options["pool_timeout"] = pool_timeout
    driver = parsed.get_driver_name()
    if driver == "asyncpg":
        options["connect_args"] = {"timeout": connect_timeout}
    elif driver in ("asyncmy", "aiomysql", "pymysql"):
        options["connect_args"] = {"connect_timeout": connect_timeout}
    return options


class SqlAlchemyBackend(Backend):
    """A `Backend` on any SQLAlchemy async engine it supports.

    An unreachable server, a lost connection or no pooled connection free within
    `pool_timeout` seconds raises `StoreUnavailable`. For an engine made from a URL,
    `pool_timeout` (default 30 s) bounds the wait for a pooled connection and
    `connect_timeout` (default 10 s) a new connection; for an engine passed in, set
    them on the engine. `lock_timeout` bounds the wait for MariaDB/MySQL's append
    lock (`AppendLockTimeout`).
    """

    def __init__(
        self,
        engine: AsyncEngine | str,
        *,
        tables: TableNames | None = None,
        lock_timeout: float = 30.0,
        pool_timeout: float = 30.0,
        connect_timeout: float = 10.0,
    ) -> None:
        if isinstance(engine, str):
            engine = create_async_engine(
                engine,
                json_serializer=jsontext.dumps,
                json_deserializer=jsontext.loads,
                **_engine_options(engine, pool_timeout, connect_timeout),
            )
            self._owns_engine = True
        else:
            self._owns_engine = False
        self.engine = engine
        self.dialect = engine.dialect.name
        """The name of the engine's SQL dialect: sqlite, mysql, mariadb or postgresql."""
        rules = _DIALECTS.get(self.dialect)
        if rules is None:
            raise ValueError(f"evtsrc does not support the {self.dialect!r} SQL dialect")
        self.names = tables or TableNames()
        self._dialect = rules(
            engine, self.names, lock_timeout=lock_timeout, connect_timeout=connect_timeout
        )
        self.tables = self._dialect.tables()
        self.outage = self._dialect.outage
        """Which errors of this engine's driver mean an outage (raised as `StoreUnavailable`)."""

    # -- schema ------------------------------------------------------------------------------

    async def create_schema(self) -> None:
        """Create the tables and indexes that do not exist yet; add the columns a store lacks.

        A store made before event ids and metadata gets their columns (its events read
        back with none); ALTER TABLE runs only if a column is missing. Then the events
        stored before bucket keys get theirs, `sql._buckets.FILL_BATCH` at a time, each
        batch in a transaction of its own; on a filled store, that is one look at the
        first and the last event.
        """
        async with self._transaction("create the schema", write=True) as connection:
            self.tables = self._dialect.tables()
            await connection.run_sync(self._dialect.create_schema, self.tables)
        await self._fill_bucket_keys()

    async def _fill_bucket_keys(self) -> None:
        statements = self._dialect.bucket_fill()
        action = "fill in bucket keys"
        async with self._connection(action) as connection:
            if (await connection.exec_driver_sql(statements.probe)).first() is None:
                return
        before: int | None = NO_POSITION_ABOVE
        while before is not None:
            async with self._transaction(action, write=True) as connection:
                result = await connection.exec_driver_sql(statements.unkeyed, (before, FILL_BATCH))
                rows = result.all()
                if rows:
                    await connection.exec_driver_sql(statements.fill, fill_values(rows))
            before = int(rows[-1][0]) if len(rows) == FILL_BATCH else None

    def schema_sql(self) -> str:
        """The CREATE statements `create_schema()` runs, as SQL text for this engine's dialect.

        On a `mysql://` URL, MariaDB is recognised only once connected: before
        that, use a `mariadb://` URL to get MariaDB's collation.
        """
        return self.tables.ddl(self.engine.dialect)

    async def drop_schema(self) -> None:
        """Drop the tables (and every event in them)."""
        async with self._transaction("drop the schema") as connection:
            await connection.run_sync(self.tables.metadata.drop_all, checkfirst=True)

    # -- connections ---------------------------------------------------------------------------

    @asynccontextmanager
    async def _connection(self, action: str) -> AsyncGenerator[AsyncConnection]:
        """A connection for `action`: every statement but appends runs in one of these."""
        with self.outage.during(action):
            async with self.engine.connect() as connection:
                yield connection

    @asynccontextmanager
    async def _transaction(
        self, action: str, *, write: bool = False
    ) -> AsyncGenerator[AsyncConnection]:
        """A connection in a transaction for `action`, committed at the end.

        With `write`, a transaction as appends take it (SQLite's write lock from its start).
        """
        with self.outage.during(action):
            async with self.engine.connect() as connection:
                if write:
                    connection = await connection.execution_options(**self._dialect.write_options)
                async with connection.begin():
                    yield connection

    # -- events ------------------------------------------------------------------------------

    async def _append(
        self,
        stream: str,
        aggregate_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        *,
        once: Once | None = None,
    ) -> Sequence[EventRecord]:
        """As the dialect appends: see docs/concepts/ordering.

        With `once`, in the same transaction, its key is recorded first.
        """
        return await self._dialect.append(
            self.tables, stream, aggregate_id, expected_version, events, once
        )

    async def processed(self, inbox: str, key: str) -> bool:
        """Whether `inbox` recorded `key`."""
        table = self.tables.processed
        query = sa.select(sa.literal(1)).where(table.c.inbox == inbox, table.c.message_key == key)
        async with self._connection(f"read whether {inbox!r} processed a message") as connection:
            return await connection.scalar(query) is not None

    async def mark_processed(self, inbox: str, key: str) -> None:
        """Record `key` for `inbox` (nothing if it is recorded already)."""
        statement = self._dialect.record_processed(self.tables.processed, Once(inbox, key))
        async with self._transaction(f"record a message {inbox!r} processed") as connection:
            await connection.execute(statement)

    def _is_version_clash(self, error: Exception) -> bool:
        return self._dialect.is_version_clash(error)

    @property
    def channel(self) -> str:
        """The PostgreSQL NOTIFY channel appends announce themselves on."""
        return self.names.events

    def _events(self, metadata: bool = True) -> sa.Select[Any]:
        """The columns of an `EventRecord`, in its order, with the payload as its JSON text.

        The backend parses payloads itself (`_rows`), whatever `json_deserializer`
        the engine has: one that does not parse must fail its own event, not the read.
        Metadata stays the text stored, parsed only if asked for (`EventMeta`). Without
        `metadata`, the event id and metadata are left out.
        """
        c = self.tables.events.c
        dialect = self._dialect
        columns: list[sa.ColumnElement[Any]] = [
            c.stream,
            c.aggregate_id,
            c.version,
            c.position,
            c.timestamp,
            c.type,
            dialect.payload_text(c.data).label("data"),
        ]
        if not metadata:
            return sa.select(*columns, c.event_version)
        event_id = dialect.event_id_text(c.event_id).label("event_id")
        return sa.select(*columns, event_id, c.event_version, c.metadata)

    def _bare_events(self) -> sa.Select[Any]:
        """`_events` without the columns only `EventMeta` reads."""
        c = self.tables.events.c
        columns: list[sa.ColumnElement[Any]] = [
            c.stream,
            c.aggregate_id,
            c.version,
            c.position,
            c.type,
            self._dialect.payload_text(c.data).label("data"),
            c.event_version,
        ]
        return sa.select(*columns)

    def _bare_rows(self, result: sa.CursorResult[Any]) -> list[EventRecord]:
        rows = cast("Sequence[Sequence[Any]]", result.all())  # seven columns: see _bare_events
        payloads = self._dialect.payloads([r[5] for r in rows])
        return [
            EventRecord(r[0], r[1], r[2], r[3], NOT_READ, r[4], data, None, r[6])
            for r, data in zip(rows, payloads, strict=True)
        ]

    def _rows(self, result: sa.CursorResult[Any], metadata: bool = True) -> list[EventRecord]:
        return self._records(cast("Sequence[Sequence[Any]]", result.all()), metadata)

    def _records(self, rows: Sequence[Sequence[Any]], metadata: bool) -> list[EventRecord]:
        """Records of rows that start with the columns of `_events(metadata)`."""
        payloads = self._dialect.payloads([r[6] for r in rows])
        if metadata:
            return [
                EventRecord(r[0], r[1], r[2], r[3], r[4], r[5], data, r[7], r[8], r[9])
                for r, data in zip(rows, payloads, strict=True)
            ]
        return [
            EventRecord(r[0], r[1], r[2], r[3], r[4], r[5], data, None, r[7])
            for r, data in zip(rows, payloads, strict=True)
        ]

    async def read_aggregate(
        self,
        stream: str,
        aggregate_id: str,
        *,
        after_version: int = 0,
        limit: int = 1000,
        meta: bool = True,
    ) -> Sequence[EventRecord]:
        """Events of one aggregate after `after_version`, by version."""
        table = self.tables.events
        query = (
            (self._events() if meta else self._bare_events())
            .where(
                table.c.stream == stream,
                table.c.aggregate_id == aggregate_id,
                table.c.version > after_version,
            )
            .order_by(table.c.version)
            .limit(limit)
        )
        async with self._connection(f"read {stream}/{aggregate_id}") as connection:
            result = await connection.execute(query)
            return self._rows(result) if meta else self._bare_rows(result)

    async def _read_streams(
        self, streams: tuple[str, ...], after_position: int, limit: int, metadata: bool
    ) -> Sequence[EventRecord]:
        """Events after `after_position` that no earlier commit can precede."""
        query = self._dialect.stream_page(
            self._events(metadata), self.tables.events, streams, after_position, limit
        )
        async with self._connection("read streams") as connection:
            return self._rows(await connection.execute(query), metadata)

    async def _read_bucket(
        self,
        streams: tuple[str, ...],
        after_position: int,
        limit: int,
        metadata: bool,
        bucket: Bucket,
    ) -> Sequence[EventRecord]:
        """`_read_streams` of `bucket` only.

        The same query, with the bucket filtered as each stream's (stream, position)
        index is read (and, on PostgreSQL, below the same horizon).
        """
        table = self.tables.events
        events = self._events(metadata).add_columns(table.c.bucket_key)

        async def read(after: int, wanted: int) -> KeyedPage:
            query = self._dialect.stream_page(events, table, streams, after, wanted, bucket)
            async with self._connection("read streams") as connection:
                rows = cast("Sequence[Sequence[Any]]", (await connection.execute(query)).all())
            return self._records(rows, metadata), [r[-1] for r in rows]

        return await read_bucket(read, after_position, limit, bucket)

    async def last_position(self, streams: Sequence[str]) -> int:
        """The highest position a reader of `streams` can see now; 0 if none."""
        if not streams:
            return 0
        table = self.tables.events
        found = 0
        async with self._connection("read the last position") as connection:
            for stream in dict.fromkeys(streams):  # each a lookup at the end of its index
                query = sa.select(sa.func.max(table.c.position)).where(
                    *self._dialect.visible(table, stream)
                )
                found = max(found, await connection.scalar(query) or 0)
        return found

    async def _list_streams(self) -> list[str]:
        """The streams, by lookups in the (stream, position) index (see `sql._listing`)."""
        listing = self._dialect.listing()
        async with self._connection("list streams") as connection:

            async def read(after: str | None, wanted: int) -> list[str]:
                if after is None:
                    statement = listing.first_streams
                    arguments = statement.arguments(limit=wanted)
                else:
                    statement = listing.streams
                    arguments = statement.arguments(after=after, limit=wanted)
                result = await connection.exec_driver_sql(statement.text, arguments)
                return [row[0] for row in result.all()]

            return await listed(read, None, sys.maxsize, listing.most_streams)

    async def _list_aggregate_ids(self, stream: str, after: str, limit: int) -> list[str]:
        """The ids, from the version constraint's index (see `sql._listing`)."""
        async with self._connection(f"list the aggregates of {stream}") as connection:
            statement = await self._dialect.aggregate_listing(connection)

            async def read(after: str | None, wanted: int) -> list[str]:
                arguments = statement.arguments(stream=stream, after=after, limit=wanted)
                result = await connection.exec_driver_sql(statement.text, arguments)
                return [row[0] for row in result.all()]

            return await listed(read, after, limit)

    # -- snapshots and bookmarks -------------------------------------------------------------

    async def get_snapshot(self, stream: str, aggregate_id: str) -> SnapshotRecord | None:
        """The stored snapshot of one aggregate."""
        table = self.tables.snapshots
        query = sa.select(table).where(
            table.c.stream == stream, table.c.aggregate_id == aggregate_id
        )
        async with self._connection("read a snapshot") as connection:
            row = (await connection.execute(query)).one_or_none()
        if row is None:
            return None
        return SnapshotRecord(row.stream, row.aggregate_id, row.version, row.key, row.state)

    async def put_snapshot(self, snapshot: SnapshotRecord) -> None:
        """Store `snapshot` unless a newer one under the same key is stored."""
        table = self.tables.snapshots
        values = {"version": snapshot.version, "key": snapshot.key, "state": snapshot.state}
        update = (
            sa.update(table)
            .where(
                table.c.stream == snapshot.stream,
                table.c.aggregate_id == snapshot.aggregate_id,
                sa.or_(table.c.key != snapshot.key, table.c.version <= snapshot.version),
            )
            .values(values)
        )
        async with self._transaction("store a snapshot") as connection:
            if (await connection.execute(update)).rowcount:
                return
            exists = await connection.scalar(
                sa.select(sa.literal(1)).where(
                    table.c.stream == snapshot.stream,
                    table.c.aggregate_id == snapshot.aggregate_id,
                )
            )
            if exists is None:
                await connection.execute(
                    sa.insert(table).values(
                        stream=snapshot.stream, aggregate_id=snapshot.aggregate_id, **values
                    )
                )

    async def get_bookmark(self, name: str) -> int:
        """The position stored for `name`; 0 if none."""
        table = self.tables.bookmarks
        async with self._connection(f"read bookmark {name!r}") as connection:
            found = await connection.scalar(sa.select(table.c.position).where(table.c.name == name))
        return found or 0

    async def _list_bookmarks(self) -> dict[str, int]:
        """Every bookmark stored."""
        table = self.tables.bookmarks
        async with self._connection("list bookmarks") as connection:
            rows = (await connection.execute(sa.select(table.c.name, table.c.position))).all()
        return {name: position for name, position in rows}

    async def set_bookmark(self, name: str, position: int) -> None:
        """Store `position` for `name`."""
        statement = self._dialect.store_bookmark(self.tables.bookmarks, name, position)
        async with self._transaction(f"store bookmark {name!r}") as connection:
            await connection.execute(statement)

    async def park(self, handler: str, parked: ParkedAggregate) -> None:
        """Store `parked` for `handler`, replacing what was stored for that aggregate."""
        async with self._transaction(f"park {parked.stream}/{parked.aggregate_id}") as connection:
            await park_on(connection, self.tables.parked, handler, parked)

    async def parked(self, handler: str) -> list[ParkedAggregate]:
        """What `handler` parked, in the order of the failed events' positions."""
        table = self.tables.parked
        columns = (
            table.c.stream,
            table.c.aggregate_id,
            table.c.version,
            table.c.position,
            table.c.error,
            table.c.parked_at,
        )
        query = sa.select(*columns).where(table.c.name == handler).order_by(table.c.position)
        async with self._connection(f"read what {handler!r} parked") as connection:
            rows = (await connection.execute(query)).all()
        return [ParkedAggregate(*row) for row in rows]

    async def unpark(self, handler: str, stream: str, aggregate_id: str) -> None:
        """Forget what `handler` parked of that aggregate."""
        statement = unpark_statement(self.tables.parked, handler, stream, aggregate_id)
        async with self._transaction(f"unpark {stream}/{aggregate_id}") as connection:
            await connection.execute(statement)

    async def beat(self, group: str, member: str, ttl: float) -> list[str]:
        """Keep `member` of `group` alive `ttl` seconds more; the live members, sorted.

        One transaction reads the group and stores the expiry; only if some member's
        time ran out, a second forgets them. Neither holds a lock the other waits for:
        members beating at once never deadlock (MariaDB's gap locks included).
        """
        table = self.tables.members
        now, expires = expiry_millis(ttl)
        read = sa.select(table.c.member, table.c.expires).where(table.c.group_name == group)
        action = f"beat as {member!r} of group {group!r}"
        async with self._transaction(action, write=True) as connection:
            rows = (await connection.execute(read)).all()
            await connection.execute(self._dialect.store_member(table, group, member, expires))
        live, expired = live_members(rows, member, now)
        if expired:
            where = (table.c.group_name == group, table.c.expires < now)
            async with self._transaction(action) as connection:
                await connection.execute(sa.delete(table).where(*where))
        return live

    async def leave(self, group: str, member: str) -> None:
        """Forget `member` of `group`."""
        table = self.tables.members
        statement = sa.delete(table).where(table.c.group_name == group, table.c.member == member)
        async with self._transaction(f"leave group {group!r} as {member!r}") as connection:
            await connection.execute(statement)

    async def _list_members(self, group: str) -> list[str]:
        """The live members of `group`, sorted."""
        table = self.tables.members
        read = sa.select(table.c.member, table.c.expires).where(table.c.group_name == group)
        async with self._connection(f"list the members of group {group!r}") as connection:
            rows = (await connection.execute(read)).all()
        return unexpired(rows, expiry_millis(0)[0])

    async def move_bookmark(self, name: str, expected: int, position: int) -> None:
        """Store `position` for `name` if `expected` is stored, else raise `BookmarkMoved`."""
        try:
            async with self.batch_transaction() as transaction:
                await transaction.commit_bookmark(name, expected, position)
        except BookmarkMoved as moved:
            if moved.found != position:
                raise

    # -- handlers: leases and transactions ---------------------------------------------------

    def lease(self, name: str) -> Lease:
        """The lease of handler `name`.

        An advisory lock on PostgreSQL, a named lock on MariaDB/MySQL, a lock on a
        file beside the database on SQLite (in-process only for in-memory SQLite).
        """
        lease = self._dialect.lease(name)
        return super().lease(name) if lease is None else lease

    async def _lease_holder(self, name: str) -> str | None:
        """Who holds the lock `lease(name)` takes: see the dialect's `lease_holder`."""
        return await self._dialect.lease_holder(name, self)

    @asynccontextmanager
    async def batch_transaction(self) -> AsyncGenerator[SqlBatchTransaction]:
        """A transaction for a handler's batch and its bookmark; commits on success."""
        async with self._connection("a handler's batch transaction") as connection:
            connection = await connection.execution_options(**self._dialect.write_options)
            async with connection.begin():
                yield SqlBatchTransaction(connection, self.tables.bookmarks, self.tables.parked)

    async def listen(self, streams: Sequence[str]) -> AppendListener:
        """On PostgreSQL, a LISTEN connection woken by every commit; elsewhere polling."""
        listener = await self._dialect.listen(streams)
        return await super().listen(streams) if listener is None else listener

    async def close(self) -> None:
        """Dispose of the engine if this backend created it."""
        if self._owns_engine:
            await self.engine.dispose()
