"""Event storage on SQLAlchemy 2 Core with async engines: SQLite, MariaDB/MySQL, PostgreSQL.

`SqlAlchemyBackend("sqlite+aiosqlite:///events.db")`, or pass an
`AsyncEngine`. Call `SqlAlchemyBackend.create_schema()` once (it is
idempotent), or print `SqlAlchemyBackend.schema_sql()` for your migrations.

How each database keeps handlers from skipping events (see docs/concepts/ordering):

* SQLite: one writer at a time (`BEGIN IMMEDIATE`), so positions commit in order.
* MariaDB/MySQL: appends hold a named lock (`GET_LOCK`) from insert to commit,
  so positions commit in order; independent writers queue on that lock.
* PostgreSQL: a position is the writing transaction's id times 2**20 plus the
  event's index, and readers see only positions below the oldest transaction
  still running: writers never wait for each other, and a long-open
  transaction holds readers back until it ends. An append is
  `PostgresBackend`'s one statement, autocommitted, with the NOTIFY in it.
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import AsyncGenerator, Generator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import mysql as mysql_dialect
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from ..errors import BookmarkMoved, EventEncodeError, VersionConflict
from . import jsontext
from .base import (
    AppendListener,
    Backend,
    EventRecord,
    Lease,
    NewEvent,
    SnapshotRecord,
    numbered,
)
from .leases import FileLease
from .outage import Outage, causes
from .postgres import _positions as pg_positions
from .sql_schema import TableNames, Tables

_PG_HORIZON: sa.ColumnElement[int] = sa.literal_column(pg_positions.HORIZON)


UNIQUE_VIOLATION = "23505"
UNTRANSLATABLE_CHARACTER = "22P05"
NUL_MESSAGE = "PostgreSQL cannot store the NUL character (\\u0000) in JSON strings"


def _sqlstate(error: sa_exc.DBAPIError) -> str | None:
    for candidate in (error.orig, getattr(error.orig, "__cause__", None)):
        state = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(state, str):
            return state
    return None


class AppendLockTimeout(TimeoutError):
    """MariaDB/MySQL: the append lock stayed taken by other writers for `lock_timeout` seconds.

    Contention on a reachable server, not an outage: nothing was written.
    """


# The drivers' codes for "could not connect", "the connection was lost" and "the
# server is going away or starting": the client-side CR_* errors and the server's
# too-many-connections, shutdown-in-progress and connection-killed errors.
MYSQL_CONNECTION_CODES = frozenset({1040, 1053, 1927, 2002, 2003, 2005, 2006, 2013, 2055})
# SQLSTATE class 08 (connection exception), 53300 too many connections, and 57P01-03
# (administrator shutdown, crash shutdown, cannot connect now).
PG_CONNECTION_STATES = frozenset({"53300", "57P01", "57P02", "57P03"})
# sqlite3 primary result codes: SQLITE_IOERR and SQLITE_CANTOPEN (the file cannot be
# opened or read). SQLITE_BUSY ("database is locked") is contention: not an outage.
SQLITE_UNREACHABLE = frozenset({10, 14})
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    sa_exc.TimeoutError,  # no pooled connection free within pool_timeout
    ConnectionError,  # refused, reset, aborted (raised as itself by asyncpg's connect)
    TimeoutError,  # asyncpg's connect timeout
    socket.gaierror,  # the host name does not resolve
)
"""The exception classes that always mean an outage, for every dialect."""


def connection_lost(error: BaseException) -> bool:
    """Whether a driver error (not in `CONNECTION_ERRORS`) means an outage, by its code."""
    for cause in causes(error):
        if isinstance(cause, sa_exc.DBAPIError):
            if cause.connection_invalidated:  # SQLAlchemy's own disconnect detection
                return True
            continue
        if isinstance(cause, ConnectionError | socket.gaierror):
            return True
        state = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
        if isinstance(state, str) and (state.startswith("08") or state in PG_CONNECTION_STATES):
            return True
        code = getattr(cause, "sqlite_errorcode", None)
        if isinstance(code, int) and code & 0xFF in SQLITE_UNREACHABLE:
            return True
        args = getattr(cause, "args", ())
        if (
            type(cause).__module__.split(".")[0] in ("asyncmy", "pymysql", "aiomysql")
            and args
            and args[0] in MYSQL_CONNECTION_CODES
        ):
            return True
    return False


def _refused_before_sending(error: BaseException) -> bool:
    """Whether asyncpg refused the statement before sending it (its connection was closed)."""
    for cause in causes(error):
        if type(cause).__name__ == "InterfaceError" and type(cause).__module__.startswith(
            "asyncpg"
        ):
            return "connection is closed" in str(cause)
    return False


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
        if self.dialect not in ("sqlite", "postgresql", "mysql", "mariadb"):
            raise ValueError(f"evtsrc does not support the {self.dialect!r} SQL dialect")
        self.names = tables or TableNames()
        self.tables = self._tables()
        events = engine.dialect.identifier_preparer.format_table(self.tables.events)
        self._sql_append = pg_positions.append_sql(events, notify=True)
        self._lock_timeout = lock_timeout
        self._connect_timeout = connect_timeout
        store = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}.get(self.dialect, "MariaDB/MySQL")
        self.outage = Outage(
            store,
            CONNECTION_ERRORS,
            also=connection_lost,
            answer_lost=lambda error: not _refused_before_sending(error),
            excluded=(AppendLockTimeout,),
        )
        """Which errors of this engine's driver mean an outage (raised as `StoreUnavailable`)."""
        if self.dialect == "sqlite":
            sa_event.listen(engine.sync_engine, "connect", _sqlite_connect)
            sa_event.listen(engine.sync_engine, "begin", _sqlite_begin)

    # -- schema ------------------------------------------------------------------------------

    def _tables(self) -> Tables:
        # A mysql:// URL learns whether the server is MariaDB on its first connection.
        mariadb = bool(getattr(self.engine.dialect, "is_mariadb", False))
        return Tables(self.names, self.dialect, mariadb=mariadb)

    async def create_schema(self) -> None:
        """Create the tables and indexes that do not exist yet."""
        async with self._transaction("create the schema") as connection:
            self.tables = self._tables()
            await connection.run_sync(self.tables.metadata.create_all, checkfirst=True)

    def schema_sql(self) -> str:
        """The DDL `create_schema()` runs, as SQL text for this engine's dialect.

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
    async def _transaction(self, action: str) -> AsyncGenerator[AsyncConnection]:
        """A connection in a transaction for `action`, committed at the end."""
        with self.outage.during(action):
            async with self.engine.begin() as connection:
                yield connection

    # -- events ------------------------------------------------------------------------------

    @asynccontextmanager
    async def _writing(self) -> AsyncGenerator[AsyncConnection]:
        """A transaction in which positions are taken in commit order (see module docs)."""
        options = {"evtsrc_write": True} if self.dialect == "sqlite" else {}
        async with self.engine.connect() as connection:
            connection = await connection.execution_options(**options)
            if self.dialect in ("mysql", "mariadb"):
                await self._get_lock(connection)
                try:
                    async with connection.begin():
                        yield connection
                finally:
                    await connection.execute(sa.select(sa.func.release_lock(self._lock_name)))
            else:
                async with connection.begin():
                    yield connection

    @property
    def _lock_name(self) -> str:
        return f"evtsrc:{self.names.events}"[:64]

    async def _get_lock(self, connection: AsyncConnection) -> None:
        got = await connection.scalar(
            sa.select(sa.func.get_lock(self._lock_name, self._lock_timeout))
        )
        await connection.commit()
        if got != 1:
            raise AppendLockTimeout(
                f"could not take the append lock {self._lock_name!r} within {self._lock_timeout} s"
            )

    async def append(
        self, stream: str, aggregate_id: str, expected_version: int, events: Sequence[NewEvent]
    ) -> Sequence[EventRecord]:
        """Append atomically after `expected_version`; see the module docs on ordering."""
        if not events:
            return []
        if self.dialect == "postgresql":
            return await self._append_postgres(stream, aggregate_id, expected_version, events)
        table = self.tables.events
        current_version = (
            sa.select(sa.func.coalesce(sa.func.max(table.c.version), 0))
            .where(table.c.stream == stream, table.c.aggregate_id == aggregate_id)
            .scalar_subquery()
        )
        rows: list[dict[str, Any]] = [
            {
                "stream": stream,
                "aggregate_id": aggregate_id,
                "version": expected_version + index,
                "type": event.type,
                "data": event.data,
                "timestamp": event.timestamp,
            }
            for index, event in enumerate(events, start=1)
        ]
        with (
            self.outage.appending(stream, aggregate_id) as sending,
            self._append_errors(stream, aggregate_id, expected_version),
        ):
            async with self._writing() as connection:
                version = await connection.scalar(sa.select(current_version))
                if version != expected_version:
                    raise VersionConflict(stream, aggregate_id, expected_version)
                sending.sent()
                result = await connection.execute(
                    sa.insert(table).returning(table.c.position, sort_by_parameter_order=True),
                    rows,
                )
                positions = [row[0] for row in result]
                records = [
                    EventRecord(
                        stream,
                        aggregate_id,
                        row["version"],
                        position,
                        row["timestamp"],
                        row["type"],
                        row["data"],
                    )
                    for row, position in zip(rows, positions, strict=True)
                ]
                if self.before_commit is not None:
                    await self.before_commit(stream, aggregate_id)
        return records

    async def _append_postgres(
        self, stream: str, aggregate_id: str, expected_version: int, events: Sequence[NewEvent]
    ) -> Sequence[EventRecord]:
        """PostgreSQL: the one statement `PostgresBackend` sends, committed on its own."""
        arguments = pg_positions.append_arguments(
            stream, aggregate_id, expected_version, events, self.channel
        )
        first: int | None
        with (
            self.outage.appending(stream, aggregate_id) as sending,
            self._append_errors(stream, aggregate_id, expected_version),
        ):
            async with self.engine.connect() as connection:
                sending.sent()
                if self.before_commit is None:
                    autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
                    result = await autocommit.exec_driver_sql(self._sql_append, arguments)
                    first = result.scalar_one()
                else:
                    async with connection.begin():
                        result = await connection.exec_driver_sql(self._sql_append, arguments)
                        first = result.scalar_one()
                        if first is not None:
                            await self.before_commit(stream, aggregate_id)
        if first is None:  # the version check failed: nothing was inserted
            raise VersionConflict(stream, aggregate_id, expected_version)
        return numbered(stream, aggregate_id, expected_version, first, events)

    @contextmanager
    def _append_errors(
        self, stream: str, aggregate_id: str, expected_version: int
    ) -> Generator[None]:
        """An append's database errors: a duplicate version is a conflict, a NUL refused."""
        try:
            yield
        except sa_exc.IntegrityError as error:
            if self._is_version_conflict(error):
                raise VersionConflict(stream, aggregate_id, expected_version) from error
            raise
        except sa_exc.DBAPIError as error:
            if _sqlstate(error) == UNTRANSLATABLE_CHARACTER:
                raise EventEncodeError(NUL_MESSAGE) from error
            raise

    def _is_version_conflict(self, error: sa_exc.IntegrityError) -> bool:
        text = str(error.orig)
        if self.dialect == "sqlite":
            events = self.names.events
            columns = f"{events}.stream, {events}.aggregate_id, {events}.version"
            return "UNIQUE constraint failed" in text and columns in text
        if self.dialect == "postgresql":
            return self.names.version_constraint in text and _sqlstate(error) == UNIQUE_VIOLATION
        args: tuple[object, ...] = error.orig.args if error.orig is not None else ()
        return (
            bool(args)
            and args[0] == 1062
            and f"'{self.names.version_constraint}'" in text.replace("`", "'")
        )

    @property
    def channel(self) -> str:
        """The PostgreSQL NOTIFY channel appends announce themselves on."""
        return self.names.events

    def _events(self) -> sa.Select[Any]:
        """Every column of the events table, with the payload as its JSON text.

        The backend parses payloads itself (`_rows`), whatever `json_deserializer`
        the engine has: one that does not parse must fail its own event, not the read.
        """
        table = self.tables.events
        text = (
            sa.cast(table.c.data, sa.Text)  # asyncpg would decode jsonb itself
            if self.dialect == "postgresql"
            else sa.type_coerce(table.c.data, sa.Text)  # the column's text as it is
        )
        return sa.select(*(c for c in table.c if c.name != "data"), text.label("data"))

    def _rows(self, result: sa.CursorResult[Any]) -> list[EventRecord]:
        rows = result.all()
        texts = [r.data for r in rows]
        payloads = (
            jsontext.loads_documents(texts)  # jsonb: server-validated
            if self.dialect == "postgresql"
            else [jsontext.load_payload(text) for text in texts]
        )
        return [
            EventRecord(r.stream, r.aggregate_id, r.version, r.position, r.timestamp, r.type, data)
            for r, data in zip(rows, payloads, strict=True)
        ]

    async def read_aggregate(
        self, stream: str, aggregate_id: str, *, after_version: int = 0, limit: int = 1000
    ) -> Sequence[EventRecord]:
        """Events of one aggregate after `after_version`, by version."""
        table = self.tables.events
        query = (
            self._events()
            .where(
                table.c.stream == stream,
                table.c.aggregate_id == aggregate_id,
                table.c.version > after_version,
            )
            .order_by(table.c.version)
            .limit(limit)
        )
        async with self._connection(f"read {stream}/{aggregate_id}") as connection:
            return self._rows(await connection.execute(query))

    def _visible(self, stream: str) -> list[sa.ColumnElement[bool]]:
        table = self.tables.events
        clauses: list[sa.ColumnElement[bool]] = [table.c.stream == stream]
        if self.dialect == "postgresql":
            clauses.append(table.c.position < _PG_HORIZON)
        return clauses

    async def read_streams(
        self, streams: Sequence[str], *, after_position: int = 0, limit: int = 1000
    ) -> Sequence[EventRecord]:
        """Events of `streams` after `after_position` that no earlier commit can precede."""
        if not streams:
            return []
        table = self.tables.events
        # One ordered, limited read per stream, merged: each stops early in its index,
        # where `stream IN (...)` would fetch every later event of them all and sort.
        parts = [
            self._events()
            .where(table.c.position > after_position, *self._visible(stream))
            .order_by(table.c.position)
            .limit(limit)
            for stream in dict.fromkeys(streams)
        ]
        query: sa.Select[Any] | sa.CompoundSelect[Any]
        if len(parts) == 1:
            query = parts[0]
        else:
            merged = sa.union_all(*(sa.select(part.subquery()) for part in parts)).subquery()
            query = sa.select(merged).order_by(merged.c.position).limit(limit)
        async with self._connection("read streams") as connection:
            return self._rows(await connection.execute(query))

    async def last_position(self, streams: Sequence[str]) -> int:
        """The highest position a reader of `streams` can see now; 0 if none."""
        if not streams:
            return 0
        table = self.tables.events
        found = 0
        async with self._connection("read the last position") as connection:
            for stream in dict.fromkeys(streams):  # each a lookup at the end of its index
                query = sa.select(sa.func.max(table.c.position)).where(*self._visible(stream))
                found = max(found, await connection.scalar(query) or 0)
        return found

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

    async def set_bookmark(self, name: str, position: int) -> None:
        """Store `position` for `name`."""
        table = self.tables.bookmarks
        statement: sa.Executable
        if self.dialect in ("mysql", "mariadb"):
            insert = mysql_dialect.insert(table).values(name=name, position=position)
            statement = insert.on_duplicate_key_update(position=insert.inserted.position)
        else:
            dialect_insert = (
                pg_dialect.insert if self.dialect == "postgresql" else sqlite_dialect.insert
            )
            upsert = dialect_insert(table).values(name=name, position=position)
            statement = upsert.on_conflict_do_update(
                index_elements=[table.c.name], set_={"position": upsert.excluded.position}
            )
        async with self._transaction(f"store bookmark {name!r}") as connection:
            await connection.execute(statement)

    # -- handlers: leases and transactions ---------------------------------------------------

    def lease(self, name: str) -> Lease:
        """The lease of handler `name`.

        An advisory lock on PostgreSQL, a named lock on MariaDB/MySQL, a lock on a
        file beside the database on SQLite (in-process only for in-memory SQLite).
        """
        if self.dialect == "postgresql":
            from .outage import DEFAULT_TIMEOUT
            from .postgres._lease import PgAdvisoryLease, advisory_key

            return PgAdvisoryLease(
                advisory_key(self.names.events, name),
                self._asyncpg_connect,
                _close_asyncpg,
                _terminate_asyncpg,
                timeout=DEFAULT_TIMEOUT,
            )
        if self.dialect in ("mysql", "mariadb"):
            return _NamedLockLease(self.engine, f"evtsrc:{self.names.events}:{name}", self.outage)
        database = self.engine.url.database
        if database and database != ":memory:" and not database.startswith("file:"):
            folder = Path(database).resolve().parent
            return FileLease(folder, f"{Path(database).name}:{self.names.events}", name)
        return super().lease(name)

    async def _asyncpg_connect(self) -> Any:
        import asyncpg

        with self.outage.during("connect for a handler lease"):
            return await asyncpg.connect(self._libpq_url(), timeout=self._connect_timeout)

    def _libpq_url(self) -> str:
        return self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)

    @asynccontextmanager
    async def batch_transaction(self) -> AsyncGenerator[SqlBatchTransaction]:
        """A transaction for a handler's batch and its bookmark; commits on success."""
        options = {"evtsrc_write": True} if self.dialect == "sqlite" else {}
        async with self._connection("a handler's batch transaction") as connection:
            connection = await connection.execution_options(**options)
            async with connection.begin():
                yield SqlBatchTransaction(connection, self.tables.bookmarks)

    async def listen(self, streams: Sequence[str]) -> AppendListener:
        """On PostgreSQL, a LISTEN connection woken by every commit; elsewhere polling."""
        if self.dialect != "postgresql":
            return await super().listen(streams)
        from .postgres._listen import PgListener

        with self.outage.during("listen for appends"):
            return await PgListener.open(self._libpq_url(), self.channel, streams)

    async def close(self) -> None:
        """Dispose of the engine if this backend created it."""
        if self._owns_engine:
            await self.engine.dispose()


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
        table = self._bookmarks
        moved = await self._connection.execute(
            sa.update(table)
            .where(table.c.name == name, table.c.position == expected)
            .values(position=position)
        )
        if moved.rowcount == 1:
            return
        found = await self._connection.scalar(
            sa.select(table.c.position).where(table.c.name == name)
        )
        if found is None and expected == 0:
            await self._connection.execute(sa.insert(table).values(name=name, position=position))
            return
        raise BookmarkMoved(name, expected, found)


class _NamedLockLease:
    """A lease held as MariaDB/MySQL `GET_LOCK` on a connection of its own."""

    def __init__(self, engine: AsyncEngine, name: str, outage: Outage) -> None:
        # Lock names are at most 64 characters: keep long ones unique with a digest.
        if len(name) > 64:
            name = name[:40] + hashlib.sha256(name.encode()).hexdigest()[:24]
        self.name = name
        self._engine = engine
        self._outage = outage
        self._connection: AsyncConnection | None = None

    async def acquire(self) -> bool:
        if self._connection is not None:
            return True
        with self._outage.during(f"take the handler lease {self.name!r}"):
            return await self._acquire()

    async def _acquire(self) -> bool:
        connection = await self._engine.connect()
        try:
            taken = await connection.scalar(sa.select(sa.func.get_lock(self.name, 0)))
            await connection.commit()
        except BaseException:
            await connection.close()
            raise
        if taken != 1:
            await connection.close()
            return False
        self._connection = connection
        return True

    async def check(self) -> bool:
        connection = self._connection
        if connection is None:
            return False
        try:
            mine = await connection.scalar(
                sa.select(sa.func.is_used_lock(self.name) == sa.func.connection_id())
            )
            await connection.commit()
        except sa_exc.DBAPIError:
            self._connection = None
            return False
        return bool(mine)

    async def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            await connection.scalar(sa.select(sa.func.release_lock(self.name)))
            await connection.commit()
        except sa_exc.DBAPIError as error:
            if not self._outage(error):
                raise
            # The connection is gone, and the server freed the lock with it.
        finally:
            await connection.close()


async def _close_asyncpg(connection: Any) -> None:
    await connection.close()


async def _terminate_asyncpg(connection: Any) -> None:
    connection.terminate()
