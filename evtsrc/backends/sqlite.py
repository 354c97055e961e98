"""Event storage on SQLite through the standard library's `sqlite3`: no dependency at all.

`SqliteBackend("events.sqlite")`, then `await backend.create_schema()` once (it
is idempotent). The tables are exactly those `SqlAlchemyBackend` creates on
SQLite, so the two backends read and write each other's files.

Every operation is one synchronous function run on a thread of the backend's
own, so that the event loop never waits for the disk and each operation costs
one hop between threads:

* the writer thread owns the connection that appends, stores snapshots and
  bookmarks and runs transactional handler batches; each append is
  `BEGIN IMMEDIATE`, the version check, the insert and the commit. SQLite has
  one writer at a time (across processes too, waiting up to `busy_timeout`),
  so positions commit in order and handlers never skip an event;
* the reader thread owns a second connection for every read. In WAL mode
  readers never wait for the writer, and reads never queue behind an append
  that waits for another process's write lock.

A database file that cannot be opened or read (`SQLITE_CANTOPEN`, `SQLITE_IOERR`)
raises `StoreUnavailable`. A write lock that stays taken for `busy_timeout` seconds
("database is locked", `SQLITE_BUSY`) is contention on a reachable store, not an
outage: it stays `sqlite3.OperationalError`, and nothing was written.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import queue
import re
import sqlite3
import threading
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from ..errors import BookmarkMoved, EventEncodeError, VersionConflict
from ..jsontypes import JSONObject
from . import jsontext
from .base import (
    Backend,
    EventRecord,
    Lease,
    NewEvent,
    SnapshotRecord,
    UndecodablePayload,
    numbered,
)
from .leases import FileLease
from .names import NAME_LENGTH, TableNames
from .outage import unavailable

__all__ = ["SqliteBackend", "SqliteBatchTransaction", "Synchronous"]

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]
"""SQLite's `PRAGMA synchronous` levels: how often a commit waits for the disk."""

_SYNCHRONOUS: tuple[Synchronous, ...] = ("OFF", "NORMAL", "FULL", "EXTRA")

T = TypeVar("T")


# SQLAlchemy's rule for identifiers that must be quoted (none of its SQLite reserved
# words can be a table or index name of evtsrc, which all end in a fixed suffix).
_PLAIN = re.compile(r"[a-z_][a-z0-9_$]*")


def _quote(name: str) -> str:
    if _PLAIN.fullmatch(name):
        return name
    return '"' + name.replace('"', '""') + '"'


def _timestamp_out(value: datetime) -> str:
    """A UTC timestamp as SQLAlchemy stores a DateTime on SQLite."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _timestamp_in(text: str) -> datetime:
    try:  # stored without an offset, meaning UTC (cheaper than .replace(tzinfo=UTC))
        return datetime.fromisoformat(text + "+00:00")
    except ValueError:
        pass
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _payloads(rows: list[Any]) -> list[JSONObject | UndecodablePayload]:
    """The JSON payloads of rows ending (data, json_valid(data)).

    When SQLite vouches that every text is one JSON value, they are parsed in one go
    (twice as fast, and sharing keys); otherwise each alone, so that a bad one
    becomes an `UndecodablePayload` of its own.
    """
    texts: list[str] = [row[-2] for row in rows]
    if all(row[-1] for row in rows):
        return jsontext.loads_documents(texts)
    return [jsontext.load_payload(text) for text in texts]


SQLITE_IOERR = 10
SQLITE_CANTOPEN = 14
UNREACHABLE_CODES = frozenset({SQLITE_IOERR, SQLITE_CANTOPEN})
"""sqlite3 primary result codes that mean the database file cannot be opened or read."""


def unreachable(error: BaseException) -> bool:
    """Whether `error` says the database file cannot be opened, read or written."""
    code = getattr(error, "sqlite_errorcode", None)
    return (
        isinstance(error, sqlite3.Error)
        and isinstance(code, int)
        and code & 0xFF in (UNREACHABLE_CODES)
    )


def translated(
    function: Callable[..., Any], args: tuple[Any, ...], error: BaseException
) -> BaseException:
    """`error` of a job, or the `StoreUnavailable` it means (every job's errors pass here).

    An I/O error while an append or a batch commits leaves its outcome unknown; a
    file that cannot be opened fails before anything is written.
    """
    if not isinstance(error, sqlite3.Error) or not unreachable(error):
        return error
    name = getattr(function, "__name__", "statement").strip("_")
    io_error = error.sqlite_errorcode & 0xFF == SQLITE_IOERR
    unknown = name in ("append", "commit") and io_error
    action = name.replace("_", " ")
    if name in ("append", "insert") and len(args) >= 2:
        action = f"append to {args[0]}/{args[1]}"
    return unavailable("SQLite", action, error, outcome_unknown=unknown)


_Job = tuple[
    asyncio.AbstractEventLoop | None,
    "asyncio.Future[Any] | None",
    Callable[..., Any],
    tuple[Any, ...],
]


class _Worker:
    """One thread that runs jobs in order, each answered on its caller's event loop.

    Lighter than `loop.run_in_executor`: no `concurrent.futures.Future`, no locks
    on submission, one `call_soon_threadsafe` per answer.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.closed_by: object = None
        """The closed backend, once closed: jobs are refused."""

    def run(self, function: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Queue `function(*args)`; the future has its result (not run if cancelled first)."""
        if self._thread is None:
            self._start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((loop, future, function, args))
        return future

    def post(self, function: Callable[[], object]) -> None:
        """Queue `function()` after the jobs queued so far, not waiting for it."""
        if self._thread is not None:
            self._jobs.put((None, None, function, ()))

    def _start(self) -> None:
        if self.closed_by is not None:
            raise RuntimeError(f"{self.closed_by!r} is closed")
        thread = threading.Thread(target=_serve, args=(self._jobs,), name=self._name, daemon=True)
        thread.start()
        self._thread = thread
        weakref.finalize(self, self._jobs.put, None)  # forgotten unclosed: end the thread

    def close(self, backend: object, last: Callable[[], None]) -> Awaitable[None]:
        """Run `last()`, end the thread, and refuse jobs from now on, naming `backend`."""
        self.closed_by = backend
        if self._thread is None:
            return asyncio.sleep(0)
        future = self.run(last)
        self._jobs.put(None)
        self._thread = None
        return future


def _serve(jobs: queue.SimpleQueue[_Job | None]) -> None:
    get = jobs.get
    while (job := get()) is not None:
        _serve_one(*job)
        del job  # hold nothing (the backend, through a bound method) while waiting


def _serve_one(
    loop: asyncio.AbstractEventLoop | None,
    future: asyncio.Future[Any] | None,
    function: Callable[..., Any],
    args: tuple[Any, ...],
) -> None:
    if loop is None or future is None:  # posted: nobody waits for it
        with contextlib.suppress(Exception):
            function(*args)
        return
    if future.cancelled():
        return
    try:
        result = function(*args)
    except BaseException as error:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
            loop.call_soon_threadsafe(_settle, future, None, translated(function, args, error))
        return
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(_settle, future, result, None)


def _settle(future: asyncio.Future[Any], result: object, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


class _Sql:
    """The statements of one event store, built once."""

    def __init__(self, names: TableNames) -> None:
        events, snapshots, bookmarks = (
            _quote(names.events),
            _quote(names.snapshots),
            _quote(names.bookmarks),
        )
        self.events, self.snapshots, self.bookmarks = events, snapshots, bookmarks
        self.conflict = (
            f"UNIQUE constraint failed: {names.events}.stream, "
            f"{names.events}.aggregate_id, {names.events}.version"
        )
        name = f"VARCHAR({NAME_LENGTH})"
        self.tables = (
            f"CREATE TABLE {bookmarks} (\n"
            f"\tname {name} NOT NULL, \n"
            "\tposition BIGINT NOT NULL, \n"
            "\tPRIMARY KEY (name)\n"
            ")",
            f"CREATE TABLE {events} (\n"
            "\tposition INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, \n"
            f"\tstream {name} NOT NULL, \n"
            f"\taggregate_id {name} NOT NULL, \n"
            "\tversion INTEGER NOT NULL, \n"
            f"\ttype {name} NOT NULL, \n"
            "\tdata JSON NOT NULL, \n"
            "\ttimestamp DATETIME NOT NULL, \n"
            f"\tCONSTRAINT {_quote(names.version_constraint)} "
            "UNIQUE (stream, aggregate_id, version)\n"
            ")",
            f"CREATE INDEX {_quote(names.events + '_stream_ix')} ON {events} (stream, position)",
            f"CREATE TABLE {snapshots} (\n"
            f"\tstream {name} NOT NULL, \n"
            f"\taggregate_id {name} NOT NULL, \n"
            "\tversion INTEGER NOT NULL, \n"
            f'\t"key" {name} NOT NULL, \n'
            "\tstate JSON NOT NULL, \n"
            "\tPRIMARY KEY (stream, aggregate_id)\n"
            ")",
        )
        # SQLite stores them without IF NOT EXISTS: as the statements SQLAlchemy runs.
        self.create = tuple(
            re.sub(r"^CREATE (TABLE|INDEX) ", r"CREATE \1 IF NOT EXISTS ", statement)
            for statement in self.tables
        )
        self.version = f"SELECT max(version) FROM {events} WHERE stream = ? AND aggregate_id = ?"
        self.insert = (
            f"INSERT INTO {events} (stream, aggregate_id, version, type, data, timestamp) "
            "VALUES (?, ?, ?, ?, ?, ?)"
        )
        self.read_aggregate = (
            f"SELECT position, version, timestamp, type, data, json_valid(data) FROM {events} "
            "WHERE stream = ? AND aggregate_id = ? AND version > ? ORDER BY version LIMIT ?"
        )
        self._read_streams: dict[int, str] = {}
        self._last_position: dict[int, str] = {}
        self.get_snapshot = (
            f'SELECT version, "key", state FROM {snapshots} WHERE stream = ? AND aggregate_id = ?'
        )
        self.put_snapshot = (
            f'INSERT INTO {snapshots} (stream, aggregate_id, version, "key", state) '
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (stream, aggregate_id) DO UPDATE SET "
            'version = excluded.version, "key" = excluded."key", state = excluded.state '
            f'WHERE {snapshots}."key" != excluded."key" OR {snapshots}.version <= excluded.version'
        )
        self.get_bookmark = f"SELECT position FROM {bookmarks} WHERE name = ?"
        self.set_bookmark = (
            f"INSERT INTO {bookmarks} (name, position) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET position = excluded.position"
        )
        self.move_bookmark = f"UPDATE {bookmarks} SET position = ? WHERE name = ? AND position = ?"
        self.insert_bookmark = f"INSERT INTO {bookmarks} (name, position) VALUES (?, ?)"

    def read_streams(self, count: int) -> str:
        """Each stream's page read in its index order, then merged.

        Parameters: stream, after and limit per stream, then the limit. With
        `stream IN (...)` SQLite would sort every later event of the streams.
        """
        found = self._read_streams.get(count)
        if found is None:
            one = (
                "SELECT position, stream, aggregate_id, version, timestamp, type, data, "
                "json_valid(data) "
                f"FROM {self.events} WHERE stream = ? AND position > ? ORDER BY position LIMIT ?"
            )
            found = self._read_streams[count] = (
                one
                if count == 1
                else " UNION ALL ".join([f"SELECT * FROM ({one})"] * count)
                + " ORDER BY position LIMIT ?"
            )
        return found

    def last_position(self, count: int) -> str:
        """The highest position of `count` streams, each looked up at its index end."""
        found = self._last_position.get(count)
        if found is None:
            one = f"SELECT max(position) AS top FROM {self.events} WHERE stream = ?"
            found = self._last_position[count] = (
                f"SELECT max(top) FROM ({' UNION ALL '.join([one] * count)})"
            )
        return found

    def ddl(self) -> str:
        """The tables' DDL, as `SqlAlchemyBackend.schema_sql()` prints it for SQLite."""
        bookmarks, events, index, snapshots = self.tables
        return ";\n\n".join((bookmarks, events, index, snapshots)) + ";\n"


class SqliteBackend(Backend):
    """A `Backend` on one SQLite file through the standard library's `sqlite3`.

    `synchronous` is SQLite's `PRAGMA synchronous`: with `"NORMAL"` (the default,
    as in `SqlAlchemyBackend`) a commit survives a crash of the application but
    the last commits may be lost if the machine loses power; `"FULL"` syncs the
    disk on every commit. `busy_timeout` is how many seconds a writer waits for
    another connection's write lock before `sqlite3.OperationalError`.
    """

    # Reading ahead does not pay here: the reader thread builds its rows under the
    # GIL the fold holds, and a load measured 2-4 % slower with it.
    reads_ahead = False

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        tables: TableNames | None = None,
        synchronous: Synchronous = "NORMAL",
        busy_timeout: float = 30.0,
    ) -> None:
        if not isinstance(path, str | os.PathLike) or isinstance(path, bytes):
            raise TypeError(f"path must be a str or os.PathLike[str], not {type(path).__name__}")
        text = os.fspath(path)
        if not isinstance(text, str):
            raise TypeError(f"path must be a str or os.PathLike[str], not {type(text).__name__}")
        if text in ("", ":memory:") or text.startswith("file::memory:"):
            raise ValueError(
                f"SqliteBackend needs a database file, not {text!r}: its reader and writer "
                "connections must open the same database, and handler leases keep lock "
                "files beside it (for tests, use a file in a temporary directory)"
            )
        if tables is not None and not isinstance(tables, TableNames):
            raise TypeError(f"tables must be a TableNames, not {type(tables).__name__}")
        level = synchronous.upper() if isinstance(synchronous, str) else synchronous
        if level not in _SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {_SYNCHRONOUS}, not {synchronous!r}")
        if isinstance(busy_timeout, bool) or not isinstance(busy_timeout, int | float):
            raise TypeError(f"busy_timeout must be a number of seconds, not {busy_timeout!r}")
        if not (math.isfinite(busy_timeout) and busy_timeout >= 0):
            raise ValueError(f"busy_timeout must be finite and >= 0 seconds, not {busy_timeout}")
        self.path = Path(text)
        """The database file."""
        self.names = tables or TableNames()
        """The names of the event store's tables."""
        self.synchronous: Synchronous = level
        """The `PRAGMA synchronous` level of the backend's connections."""
        self.busy_timeout = float(busy_timeout)
        """Seconds a writer waits for another connection's write lock."""
        self._sql = _Sql(self.names)
        self._writer = _Worker("evtsrc-sqlite-writer")
        self._reader = _Worker("evtsrc-sqlite-reader")
        self._writer_connection: sqlite3.Connection | None = None
        self._reader_connection: sqlite3.Connection | None = None
        # Held (in the event loop) by a transactional batch or an append waiting in the
        # before_commit hook: the writer connection has a transaction open across awaits.
        self._gate = asyncio.Lock()
        self._holder: asyncio.Task[Any] | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"SqliteBackend({str(self.path)!r})"

    # -- the threads ------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout,
            isolation_level=None,  # autocommit: the backend issues BEGIN itself
            check_same_thread=False,  # a batch's callbacks use it from the event loop
        )
        try:
            for pragma in (
                "journal_mode=WAL",
                f"synchronous={self.synchronous}",
                "foreign_keys=ON",
            ):
                connection.execute(f"PRAGMA {pragma}")
        except BaseException:
            connection.close()
            raise
        return connection

    def _writing(self) -> sqlite3.Connection:
        """The writer connection (on the writer thread), opened on first use."""
        connection = self._writer_connection
        if connection is None:
            connection = self._writer_connection = self._connect()
        return connection

    def _reading(self) -> sqlite3.Connection:
        """The reader connection (on the reader thread), opened on first use."""
        connection = self._reader_connection
        if connection is None:
            connection = self._reader_connection = self._connect()
        return connection

    async def _write(self, function: Callable[..., T], *args: object) -> T:
        """Run `function(*args)`, one whole transaction, on the writer thread."""
        if self._gate.locked():
            self._refuse_reentry()
            async with self._gate:
                return await self._writer.run(function, *args)
        return await self._writer.run(function, *args)

    def _refuse_reentry(self) -> None:
        if self._holder is not None and self._holder is asyncio.current_task():
            raise RuntimeError(
                f"{self!r}: this task holds the write lock in an open transaction (a "
                "transactional handler's batch or a before_commit hook), so it cannot "
                "write through the backend until that ends; write through the batch's "
                "connection instead"
            )

    def _rollback_later(self) -> None:
        """Queue a rollback of the writer's open transaction, after the steps queued so far."""
        self._writer.post(self._rollback)

    def _rollback(self) -> None:
        connection = self._writer_connection
        if connection is not None and connection.in_transaction:
            connection.rollback()

    def _commit(self) -> None:
        self._writing().commit()

    # -- schema -----------------------------------------------------------------------------

    async def create_schema(self) -> None:
        """Create the tables and the index that do not exist yet."""
        await self._write(self._create_schema)

    def _create_schema(self) -> None:
        self._execute_in_transaction(self._sql.create)

    def schema_sql(self) -> str:
        """The DDL `create_schema()` runs, as SQL text (the same as `SqlAlchemyBackend`'s)."""
        return self._sql.ddl()

    async def drop_schema(self) -> None:
        """Drop the tables (and every event in them)."""
        await self._write(self._drop_schema)

    def _drop_schema(self) -> None:
        tables = (self._sql.bookmarks, self._sql.events, self._sql.snapshots)
        self._execute_in_transaction(f"DROP TABLE IF EXISTS {table}" for table in tables)

    def _execute_in_transaction(self, statements: Iterable[str]) -> None:
        """Run `statements` in one write transaction: all of them, or none."""
        with self._begin() as connection:  # sqlite3 commits, or rolls back on an error
            for statement in statements:
                connection.execute(statement)

    # -- events -----------------------------------------------------------------------------

    async def append(
        self, stream: str, aggregate_id: str, expected_version: int, events: Sequence[NewEvent]
    ) -> Sequence[EventRecord]:
        """Append atomically after `expected_version`: one transaction on the writer thread."""
        if not events:
            return []
        if self.before_commit is None and not self._gate.locked():
            return await self._writer.run(
                self._append, stream, aggregate_id, expected_version, events
            )
        return await self._append_held(stream, aggregate_id, expected_version, events)

    def _append(
        self, stream: str, aggregate_id: str, expected_version: int, events: Sequence[NewEvent]
    ) -> list[EventRecord]:
        records = self._insert(stream, aggregate_id, expected_version, events)
        self._commit()
        return records

    def _insert(
        self, stream: str, aggregate_id: str, expected_version: int, events: Sequence[NewEvent]
    ) -> list[EventRecord]:
        """Begin, check the version and insert; the transaction stays open on success."""
        rows = [
            (
                stream,
                aggregate_id,
                expected_version + index,
                event.type,
                jsontext.dumps(event.data),
                _timestamp_out(event.timestamp),
            )
            for index, event in enumerate(events, start=1)
        ]
        connection = self._writer_connection or self._writing()
        sql = self._sql
        connection.execute("BEGIN IMMEDIATE")
        try:
            version = connection.execute(sql.version, (stream, aggregate_id)).fetchone()[0] or 0
            if version != expected_version:
                raise VersionConflict(stream, aggregate_id, expected_version)
            if len(rows) == 1:
                last: int | None = connection.execute(sql.insert, rows[0]).lastrowid
            else:
                connection.executemany(sql.insert, rows)
                last = connection.execute("SELECT last_insert_rowid()").fetchone()[0]
        except BaseException as error:
            connection.rollback()
            if isinstance(error, sqlite3.IntegrityError) and sql.conflict in str(error):
                raise VersionConflict(stream, aggregate_id, expected_version) from error
            if isinstance(error, UnicodeEncodeError):
                raise EventEncodeError(f"SQLite cannot store this event: {error}") from error
            raise
        # One writer at a time: the rows took consecutive positions up to the last one.
        assert last is not None
        return numbered(stream, aggregate_id, expected_version, last - len(rows) + 1, events)

    async def _append_held(
        self, stream: str, aggregate_id: str, expected_version: int, events: Sequence[NewEvent]
    ) -> Sequence[EventRecord]:
        """An append while the write lock is held, or with the `before_commit` hook."""
        self._refuse_reentry()
        async with self._gate:
            hook = self.before_commit
            if hook is None:
                return await self._writer.run(
                    self._append, stream, aggregate_id, expected_version, events
                )
            self._holder = asyncio.current_task()
            try:
                records = await self._writer.run(
                    self._insert, stream, aggregate_id, expected_version, events
                )
                await hook(stream, aggregate_id)
                await self._writer.run(self._commit)
            except BaseException:
                self._rollback_later()  # runs before any step queued after the gate opens
                raise
            finally:
                self._holder = None
            return records

    async def read_aggregate(
        self, stream: str, aggregate_id: str, *, after_version: int = 0, limit: int = 1000
    ) -> Sequence[EventRecord]:
        """Events of one aggregate after `after_version`, by version."""
        return await self._reader.run(
            self._read_aggregate, stream, aggregate_id, after_version, limit
        )

    def _read_aggregate(
        self, stream: str, aggregate_id: str, after_version: int, limit: int
    ) -> list[EventRecord]:
        connection = self._reader_connection or self._reading()
        rows = connection.execute(
            self._sql.read_aggregate, (stream, aggregate_id, after_version, limit)
        ).fetchall()
        return [
            EventRecord(stream, aggregate_id, version, position, _timestamp_in(at), type_, data)
            for (position, version, at, type_, _, _), data in zip(
                rows, _payloads(rows), strict=True
            )
        ]

    async def read_streams(
        self, streams: Sequence[str], *, after_position: int = 0, limit: int = 1000
    ) -> Sequence[EventRecord]:
        """Events of `streams` after `after_position`, by position."""
        if not streams:
            return []
        unique = tuple(dict.fromkeys(streams))
        return await self._reader.run(self._read_streams, unique, after_position, limit)

    def _read_streams(
        self, streams: tuple[str, ...], after_position: int, limit: int
    ) -> list[EventRecord]:
        connection = self._reader_connection or self._reading()
        parameters: list[object] = []
        for stream in streams:
            parameters += (stream, after_position, limit)
        if len(streams) > 1:
            parameters.append(limit)
        rows = connection.execute(self._sql.read_streams(len(streams)), parameters).fetchall()
        return [
            EventRecord(stream, aggregate_id, version, position, _timestamp_in(at), type_, data)
            for (position, stream, aggregate_id, version, at, type_, _, _), data in zip(
                rows, _payloads(rows), strict=True
            )
        ]

    async def last_position(self, streams: Sequence[str]) -> int:
        """The highest position in `streams`; 0 if none."""
        if not streams:
            return 0
        return await self._reader.run(self._last_position, tuple(dict.fromkeys(streams)))

    def _last_position(self, streams: tuple[str, ...]) -> int:
        connection = self._reader_connection or self._reading()
        found = connection.execute(self._sql.last_position(len(streams)), streams).fetchone()[0]
        return found or 0

    # -- snapshots and bookmarks ------------------------------------------------------------

    async def get_snapshot(self, stream: str, aggregate_id: str) -> SnapshotRecord | None:
        """The stored snapshot of one aggregate."""
        return await self._reader.run(self._get_snapshot, stream, aggregate_id)

    def _get_snapshot(self, stream: str, aggregate_id: str) -> SnapshotRecord | None:
        connection = self._reader_connection or self._reading()
        row = connection.execute(self._sql.get_snapshot, (stream, aggregate_id)).fetchone()
        if row is None:
            return None
        return SnapshotRecord(stream, aggregate_id, row[0], row[1], jsontext.loads(row[2]))

    async def put_snapshot(self, snapshot: SnapshotRecord) -> None:
        """Store `snapshot` unless a newer one under the same key is stored."""
        await self._write(self._put_snapshot, snapshot)

    def _put_snapshot(self, snapshot: SnapshotRecord) -> None:
        state: JSONObject = snapshot.state
        row = (snapshot.stream, snapshot.aggregate_id, snapshot.version, snapshot.key)
        try:
            self._writing().execute(self._sql.put_snapshot, (*row, jsontext.dumps(state)))
        except UnicodeEncodeError as error:
            raise EventEncodeError(f"SQLite cannot store this snapshot: {error}") from error

    async def get_bookmark(self, name: str) -> int:
        """The position stored for `name`; 0 if none."""
        return await self._reader.run(self._get_bookmark, name)

    def _get_bookmark(self, name: str) -> int:
        connection = self._reader_connection or self._reading()
        row = connection.execute(self._sql.get_bookmark, (name,)).fetchone()
        return 0 if row is None else int(row[0])

    async def set_bookmark(self, name: str, position: int) -> None:
        """Store `position` for `name`."""
        await self._write(self._set_bookmark, name, position)

    def _set_bookmark(self, name: str, position: int) -> None:
        self._writing().execute(self._sql.set_bookmark, (name, position))

    # -- handlers: leases and transactions --------------------------------------------------

    def lease(self, name: str) -> Lease:
        """A lock file beside the database; the same file `SqlAlchemyBackend` locks."""
        folder = self.path.resolve().parent
        return FileLease(folder, f"{self.path.name}:{self.names.events}", name)

    @asynccontextmanager
    async def batch_transaction(self) -> AsyncGenerator[SqliteBatchTransaction]:
        """A transaction for a handler's batch and its bookmark; commits on success.

        It holds the writer connection, and SQLite's write lock, from its start to
        its commit: appends of this backend wait for it, without blocking a thread.
        """
        self._refuse_reentry()
        async with self._gate:
            self._holder = asyncio.current_task()
            try:
                connection = await self._writer.run(self._begin)
                yield SqliteBatchTransaction(connection, self._commit_bookmark)
                await self._writer.run(self._commit)
            except BaseException:
                self._rollback_later()
                raise
            finally:
                self._holder = None

    def _begin(self) -> sqlite3.Connection:
        connection = self._writing()
        connection.execute("BEGIN IMMEDIATE")
        return connection

    async def _commit_bookmark(self, name: str, expected: int, position: int) -> None:
        await self._writer.run(self._move_bookmark, name, expected, position)

    def _move_bookmark(self, name: str, expected: int, position: int) -> None:
        connection = self._writing()
        sql = self._sql
        if connection.execute(sql.move_bookmark, (position, name, expected)).rowcount == 1:
            return
        row = connection.execute(sql.get_bookmark, (name,)).fetchone()
        if row is None and expected == 0:
            connection.execute(sql.insert_bookmark, (name, position))
            return
        raise BookmarkMoved(name, expected, None if row is None else row[0])

    async def close(self) -> None:
        """Close both connections and stop the threads; the backend cannot be used after."""
        if self._closed:
            return
        self._closed = True
        await asyncio.gather(
            self._writer.close(self, self._close_writer),
            self._reader.close(self, self._close_reader),
        )

    def _close_writer(self) -> None:
        connection, self._writer_connection = self._writer_connection, None
        if connection is not None:
            connection.close()

    def _close_reader(self) -> None:
        connection, self._reader_connection = self._reader_connection, None
        if connection is not None:
            connection.close()


class SqliteBatchTransaction:
    """A handler batch's transaction on the `SqliteBackend`'s writer connection.

    The handler's callbacks use `connection` directly, on the event loop's thread,
    while the backend's writer thread waits for the batch to end: keep their
    statements short. Do not commit or roll back through it.
    """

    def __init__(
        self,
        connection: sqlite3.Connection,
        move_bookmark: Callable[[str, int, int], Awaitable[None]],
    ) -> None:
        self._connection = connection
        self._move_bookmark = move_bookmark
        self._savepoints = 0

    @property
    def connection(self) -> sqlite3.Connection:
        """The `sqlite3.Connection` to write the read model through."""
        return self._connection

    def savepoint(self) -> AbstractAsyncContextManager[object]:
        """A savepoint inside the batch's transaction."""
        return self._savepoint()

    @asynccontextmanager
    async def _savepoint(self) -> AsyncGenerator[object]:
        connection = self.connection
        self._savepoints += 1
        name = f"evtsrc_savepoint_{self._savepoints}"
        connection.execute(f"SAVEPOINT {name}")
        try:
            yield self
        except BaseException:
            connection.execute(f"ROLLBACK TO {name}")
            connection.execute(f"RELEASE {name}")
            raise
        connection.execute(f"RELEASE {name}")

    async def commit_bookmark(self, name: str, expected: int, position: int) -> None:
        """Move bookmark `name` from `expected` to `position`, or raise `BookmarkMoved`."""
        await self._move_bookmark(name, expected, position)
