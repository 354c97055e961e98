"""`SqliteBackend`: event storage on SQLite through the standard library's `sqlite3`.

Every operation that may wait for the disk or for a lock is one synchronous
function run on a thread of the backend's own (`_worker`), so that the event
loop never waits for them, at the cost of one hop between threads:

* the writer thread owns the connection that stores snapshots and bookmarks,
  runs transactional handler batches, and appends when the event loop's thread
  cannot (below). Each append is `BEGIN IMMEDIATE`, the version check, the
  insert and the commit. SQLite has one writer at a time (across processes too,
  waiting up to `busy_timeout`), so positions commit in order and handlers never
  skip an event;
* the reader thread owns a second connection for every read. In WAL mode
  readers never wait for the writer, and reads never queue behind an append
  that waits for another process's write lock;
* at `synchronous="NORMAL"` or `"OFF"`, where a commit does not sync the disk,
  an append of a few events runs on the event loop's thread through a third
  connection that never waits (`_inline`), and goes to the writer thread when
  another connection holds the write lock.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import sqlite3
import sys
from collections.abc import AsyncGenerator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from ..._errors import AlreadyProcessed, BookmarkMoved, EventEncodeError, VersionConflict
from ..._jsontypes import JSONObject
from .._support import jsontext
from .._support.buckets import KeyedPage, read_bucket
from .._support.leases import FileLease, file_lease_holder
from ..base import (
    NOT_READ,
    Backend,
    Bucket,
    EventRecord,
    Lease,
    NewEvent,
    Once,
    ParkedAggregate,
    SnapshotRecord,
    bucket_key,
    check_unmoved,
    expiry_millis,
    listed,
    numbered,
    unexpired,
)
from ..names import TableNames
from ..sql._buckets import FILL_BATCH, NO_POSITION_ABOVE, fill_values
from ..sql._ddl import add_column_statements
from ..sql._sqlite_errors import translated, version_clash_message
from ._batch import SqliteBatchTransaction
from ._inline import INLINE_LEVELS, MOST_EVENTS, InlineWriter
from ._statements import SqliteStatements
from ._values import payloads, timestamp_in, timestamp_out
from ._worker import Worker

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]
"""SQLite's `PRAGMA synchronous` levels: how often a commit waits for the disk."""

_SYNCHRONOUS: tuple[Synchronous, ...] = ("OFF", "NORMAL", "FULL", "EXTRA")

T = TypeVar("T")
log = logging.getLogger("evtsrc.backends.sqlite")


class SqliteBackend(Backend):
    """A `Backend` on one SQLite file through the standard library's `sqlite3`.

    `synchronous` is SQLite's `PRAGMA synchronous`: with `"NORMAL"` (the default,
    as in `SqlAlchemyBackend`) a commit survives a crash of the application but
    the last commits may be lost if the machine loses power; `"FULL"` syncs the
    disk on every commit. `busy_timeout` is how many seconds a writer waits for
    another connection's write lock before `sqlite3.OperationalError`.
    """

    # The reader thread builds its rows under the GIL the fold holds, so reading
    # ahead does not pay (docs/performance.md).
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
        self._sql = SqliteStatements(self.names)
        self._version_clash = version_clash_message(self.names)
        self._writer = Worker("evtsrc-sqlite-writer", translated)
        self._reader = Worker("evtsrc-sqlite-reader", translated)
        self._writer_connection: sqlite3.Connection | None = None
        self._reader_connection: sqlite3.Connection | None = None
        # Held (in the event loop) by a transactional batch: the writer connection has
        # a transaction open across awaits, and the backend's own writes wait for it.
        self._gate = asyncio.Lock()
        self._holder: asyncio.Task[Any] | None = None
        self._closed = False
        self._inline: InlineWriter | None = None
        self._inline_allowed = level in INLINE_LEVELS  # until the journal is found not WAL

    def __repr__(self) -> str:
        return f"SqliteBackend({str(self.path)!r})"

    # -- the threads ------------------------------------------------------------------------

    def _connect(self, busy_timeout: float) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.path,
            timeout=busy_timeout,
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
            connection = self._writer_connection = self._connect(self.busy_timeout)
        return connection

    def _reading(self) -> sqlite3.Connection:
        """The reader connection (on the reader thread), opened on first use."""
        connection = self._reader_connection
        if connection is None:
            connection = self._reader_connection = self._connect(self.busy_timeout)
        return connection

    async def _write(self, function: Callable[..., T], *args: object) -> T:
        """Run `function(*args)`, one whole transaction, on the writer thread.

        While a transactional batch holds the writer connection, it waits for the batch.
        """
        if self._gate.locked():
            self._refuse_reentry()
            async with self._gate:
                return await self._writer.run(function, *args)
        return await self._writer.run(function, *args)

    def _refuse_reentry(self) -> None:
        if self._holder is not None and self._holder is asyncio.current_task():
            raise RuntimeError(
                f"{self!r}: this task holds the write lock in an open transaction (a "
                "transactional handler's batch), so it cannot write through the backend "
                "until that ends; write through the batch's connection instead"
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

    def _checkpoint_later(self) -> asyncio.Future[None]:
        """Checkpoint the log on the writer thread, for the inline writer."""
        checkpoint = self._writer.run(self._checkpoint)
        checkpoint.add_done_callback(_log_checkpoint_failure)
        return checkpoint

    def _checkpoint(self) -> None:
        self._writing().execute("PRAGMA wal_checkpoint(PASSIVE)")

    # -- schema -----------------------------------------------------------------------------

    async def create_schema(self) -> None:
        """Create the tables and the index that do not exist yet; add the columns a store lacks.

        A store made before event ids and metadata gets their columns (its events read
        back with none). All in one write transaction. Then the events stored before
        bucket keys get theirs, `sql._buckets.FILL_BATCH` at a time, each batch in a write
        transaction of its own; on a filled store, that is one look at the first and the
        last event.
        """
        await self._write(self._create_schema)
        if await self._write(self._lacks_bucket_keys):
            before: int | None = NO_POSITION_ABOVE
            while before is not None:
                before = await self._write(self._fill_bucket_keys, before)

    def _create_schema(self) -> None:
        sql = self._sql
        with self._begin() as connection:  # sqlite3 commits, or rolls back on an error
            for statement in sql.create:
                connection.execute(statement)
            present = {
                table: {row[0] for row in connection.execute(sql.columns, (table,))}
                for table in sql.upgraded
            }
            for statement in add_column_statements(self.names, "sqlite", present):
                connection.execute(statement)

    def _lacks_bucket_keys(self) -> bool:
        return self._writing().execute(self._sql.fill.probe).fetchone() is not None

    def _fill_bucket_keys(self, before: int) -> int | None:
        """One batch of the fill below `before` (see `sql._buckets`); where the next starts."""
        statements = self._sql.fill
        with self._begin() as connection:  # sqlite3 commits, or rolls back on an error
            rows = connection.execute(statements.unkeyed, (before, FILL_BATCH)).fetchall()
            if rows:
                connection.executemany(statements.fill, fill_values(rows))
        return int(rows[-1][0]) if len(rows) == FILL_BATCH else None

    def schema_sql(self) -> str:
        """The CREATE statements `create_schema()` runs, as SQL text (as `SqlAlchemyBackend`'s).

        On a store made before event ids and metadata, `create_schema()` also adds their columns.
        """
        return self._sql.ddl

    async def drop_schema(self) -> None:
        """Drop the tables (and every event in them)."""
        await self._write(self._drop_schema)

    def _drop_schema(self) -> None:
        self._execute_in_transaction(self._sql.drop)

    def _execute_in_transaction(self, statements: Iterable[str]) -> None:
        """Run `statements` in one write transaction: all of them, or none."""
        with self._begin() as connection:  # sqlite3 commits, or rolls back on an error
            for statement in statements:
                connection.execute(statement)

    # -- events -----------------------------------------------------------------------------

    async def _append(
        self,
        stream: str,
        aggregate_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        *,
        once: Once | None = None,
    ) -> Sequence[EventRecord]:
        """One transaction: on the caller's thread when nothing can make it wait (`_inline`).

        Else on the writer thread, after any transactional batch holding the writer. With
        `once`, the transaction records its key first.
        """
        if self._gate.locked():
            return await self._write(
                self._insert_events, stream, aggregate_id, expected_version, events, once
            )
        inline = self._inline or self._open_inline()
        if inline is not None and len(events) <= MOST_EVENTS and inline.ready():
            try:
                records = self._insert_inline(
                    inline, stream, aggregate_id, expected_version, events, once
                )
            except Exception as error:  # as the writer thread's jobs raise it
                raise translated(self._insert_events, (stream, aggregate_id), error)  # noqa: B904
            if records is not None:
                return records
        return await self._writer.run(
            self._insert_events, stream, aggregate_id, expected_version, events, once
        )

    def _append_on_the_writer_thread(self) -> None:
        """Append on the writer thread from now on (where a test's commit gate waits)."""
        self._inline_allowed = False
        inline, self._inline = self._inline, None
        if inline is not None:
            inline.close()

    def _open_inline(self) -> InlineWriter | None:
        if not self._inline_allowed:
            return None
        try:
            inline = InlineWriter.open(self._connect, self._checkpoint_later)
        except sqlite3.Error:
            return None  # the writer thread appends, and meets the error if it lasts
        self._inline = inline
        self._inline_allowed = inline is not None
        return inline

    def _insert_events(
        self,
        stream: str,
        aggregate_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        once: Once | None = None,
    ) -> list[EventRecord]:
        """The whole append, on the writer thread: begin, check the version, insert, commit."""
        rows, metadata = self._rows(stream, aggregate_id, expected_version, events)
        connection = self._writer_connection or self._writing()
        connection.execute("BEGIN IMMEDIATE")
        return self._insert(
            connection, stream, aggregate_id, expected_version, events, rows, metadata, once
        )

    def _insert_inline(
        self,
        inline: InlineWriter,
        stream: str,
        aggregate_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        once: Once | None,
    ) -> list[EventRecord] | None:
        """The whole append on `inline`; None when another connection holds the write lock."""
        rows, metadata = self._rows(stream, aggregate_id, expected_version, events)
        if not inline.begin():
            return None
        records = self._insert(
            inline.connection, stream, aggregate_id, expected_version, events, rows, metadata, once
        )
        inline.committed()
        return records

    @staticmethod
    def _rows(
        stream: str, aggregate_id: str, expected_version: int, events: Sequence[NewEvent]
    ) -> tuple[list[tuple[Any, ...]], list[str]]:
        """The rows to insert, and each event's metadata as stored."""
        metadata = jsontext.texts([event.metadata for event in events])
        key = bucket_key(aggregate_id)
        rows = [
            (
                stream,
                aggregate_id,
                expected_version + index,
                event.type,
                jsontext.dumps(event.data),
                timestamp_out(event.timestamp),
                event.event_id,
                event.event_version,
                meta,
                key,
            )
            for (index, event), meta in zip(enumerate(events, start=1), metadata, strict=True)
        ]
        return rows, metadata

    def _insert(
        self,
        connection: sqlite3.Connection,
        stream: str,
        aggregate_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        rows: list[tuple[Any, ...]],
        metadata: list[str],
        once: Once | None,
    ) -> list[EventRecord]:
        """Check the version, insert and commit, in the transaction begun on `connection`.

        With `once`, record its key first: `INSERT ... ON CONFLICT DO NOTHING` changes
        no row if it was recorded, and the append stores nothing.
        """
        sql = self._sql
        try:
            if once is not None:
                record = (*once, timestamp_out(datetime.now(UTC)))
                if connection.execute(sql.processed.record, record).rowcount == 0:
                    raise AlreadyProcessed(once.inbox, once.key)
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
            if isinstance(error, UnicodeEncodeError):
                raise EventEncodeError(f"SQLite cannot store this event: {error}") from error
            raise
        connection.commit()
        # One writer at a time: the rows took consecutive positions up to the last one.
        assert last is not None
        first = last - len(rows) + 1
        return numbered(stream, aggregate_id, expected_version, first, events, metadata)

    def _is_version_clash(self, error: Exception) -> bool:
        return isinstance(error, sqlite3.IntegrityError) and self._version_clash in str(error)

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
        return await self._reader.run(
            self._select_aggregate, stream, aggregate_id, after_version, limit, meta
        )

    def _select_aggregate(
        self, stream: str, aggregate_id: str, after_version: int, limit: int, meta: bool
    ) -> list[EventRecord]:
        connection = self._reader_connection or self._reading()
        statement = self._sql.read_aggregate if meta else self._sql.read_aggregate_bare
        rows = connection.execute(
            statement, (stream, aggregate_id, after_version, limit)
        ).fetchall()
        if meta:
            return [
                EventRecord(stream, aggregate_id, v, p, timestamp_in(at), t, data, id_, ev, md)
                for (p, v, at, t, id_, ev, md, _, _), data in zip(rows, payloads(rows), strict=True)
            ]
        return [
            EventRecord(stream, aggregate_id, v, p, NOT_READ, t, data, None, ev)
            for (p, v, t, ev, _, _), data in zip(rows, payloads(rows), strict=True)
        ]

    async def _read_streams(
        self, streams: tuple[str, ...], after_position: int, limit: int, metadata: bool
    ) -> Sequence[EventRecord]:
        return await self._reader.run(
            self._select_streams, streams, after_position, limit, metadata
        )

    def _select_streams(
        self, streams: tuple[str, ...], after_position: int, limit: int, metadata: bool
    ) -> list[EventRecord]:
        connection = self._reader_connection or self._reading()
        parameters: list[object] = []
        for stream in streams:
            parameters += (stream, after_position, limit)
        if len(streams) > 1:
            parameters.append(limit)
        statement = self._sql.read_streams(len(streams), metadata)
        rows = connection.execute(statement, parameters).fetchall()
        if metadata:
            return [
                EventRecord(s, a, v, p, timestamp_in(at), t, data, id_, ev, meta)
                for (p, s, a, v, at, t, id_, ev, meta, _, _), data in zip(
                    rows, payloads(rows), strict=True
                )
            ]
        return [
            EventRecord(s, a, v, p, timestamp_in(at), t, data, None, ev)
            for (p, s, a, v, at, t, ev, _, _), data in zip(rows, payloads(rows), strict=True)
        ]

    async def _read_bucket(
        self,
        streams: tuple[str, ...],
        after_position: int,
        limit: int,
        metadata: bool,
        bucket: Bucket,
    ) -> Sequence[EventRecord]:
        """`_read_streams` of `bucket` only.

        Each stream's (stream, position) index read as there, the bucket filtered on the
        stored key as it is read.
        """

        async def read(after: int, wanted: int) -> KeyedPage:
            return await self._reader.run(
                self._select_bucket, streams, after, wanted, metadata, bucket
            )

        return await read_bucket(read, after_position, limit, bucket)

    def _select_bucket(
        self,
        streams: tuple[str, ...],
        after_position: int,
        limit: int,
        metadata: bool,
        bucket: Bucket,
    ) -> KeyedPage:
        connection = self._reader_connection or self._reading()
        parameters: list[object] = []
        for stream in streams:
            parameters += (stream, after_position, bucket.count, bucket.index, limit)
        if len(streams) > 1:
            parameters.append(limit)
        statement = self._sql.read_streams(len(streams), metadata, bucket=True)
        rows = connection.execute(statement, parameters).fetchall()
        keys: list[int | None] = [row[0] for row in rows]
        if metadata:
            return [
                EventRecord(s, a, v, p, timestamp_in(at), t, data, id_, ev, meta)
                for (_, p, s, a, v, at, t, id_, ev, meta, _, _), data in zip(
                    rows, payloads(rows), strict=True
                )
            ], keys
        return [
            EventRecord(s, a, v, p, timestamp_in(at), t, data, None, ev)
            for (_, p, s, a, v, at, t, ev, _, _), data in zip(rows, payloads(rows), strict=True)
        ], keys

    async def last_position(self, streams: Sequence[str]) -> int:
        """The highest position in `streams`; 0 if none."""
        if not streams:
            return 0
        return await self._reader.run(self._select_last_position, tuple(dict.fromkeys(streams)))

    def _select_last_position(self, streams: tuple[str, ...]) -> int:
        connection = self._reader_connection or self._reading()
        found = connection.execute(self._sql.last_position(len(streams)), streams).fetchone()[0]
        return found or 0

    async def _list_streams(self) -> list[str]:
        """The streams, by lookups in the (stream, position) index (see `sql._listing`)."""
        return await listed(self._read_streams_after, None, sys.maxsize)

    async def _read_streams_after(self, after: str | None, limit: int) -> list[str]:
        return await self._reader.run(self._select_names, self._stream_listing(after, limit))

    def _stream_listing(self, after: str | None, limit: int) -> tuple[str, tuple[object, ...]]:
        listing = self._sql.listing
        if after is None:
            return listing.first_streams.text, listing.first_streams.arguments(limit=limit)
        return listing.streams.text, listing.streams.arguments(after=after, limit=limit)

    async def _list_aggregate_ids(self, stream: str, after: str, limit: int) -> list[str]:
        """The ids, by lookups in the version constraint's index (see `sql._listing`)."""
        statement = self._sql.listing.aggregates

        async def read(after: str | None, wanted: int) -> list[str]:
            arguments = statement.arguments(stream=stream, after=after, limit=wanted)
            return await self._reader.run(self._select_names, (statement.text, arguments))

        return await listed(read, after, limit)

    def _select_names(self, query: tuple[str, tuple[object, ...]]) -> list[str]:
        connection = self._reader_connection or self._reading()
        return [row[0] for row in connection.execute(*query).fetchall()]

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
        row = connection.execute(self._sql.bookmark.read, (name,)).fetchone()
        return 0 if row is None else int(row[0])

    async def _list_bookmarks(self) -> dict[str, int]:
        """Every bookmark stored."""
        return await self._reader.run(self._select_bookmarks)

    def _select_bookmarks(self) -> dict[str, int]:
        connection = self._reader_connection or self._reading()
        return {
            name: int(position) for name, position in connection.execute(self._sql.bookmark.every)
        }

    async def set_bookmark(self, name: str, position: int) -> None:
        """Store `position` for `name`."""
        await self._write(self._set_bookmark, name, position)

    def _set_bookmark(self, name: str, position: int) -> None:
        self._writing().execute(self._sql.bookmark.store, (name, position))

    async def move_bookmark(self, name: str, expected: int, position: int) -> None:
        """Store `position` for `name` if `expected` is stored, else raise `BookmarkMoved`."""
        await self._write(self._move_bookmark_alone, name, expected, position)

    def _move_bookmark_alone(self, name: str, expected: int, position: int) -> None:
        try:
            with self._begin():  # sqlite3 commits, or rolls back on an error
                self._move_bookmark(name, expected, position)
        except BookmarkMoved as moved:
            if moved.found != position:
                raise

    async def park(self, handler: str, parked: ParkedAggregate) -> None:
        """Store `parked` for `handler`, replacing what was stored for that aggregate."""
        await self._write(self._park, handler, parked)

    def _park(self, handler: str, parked: ParkedAggregate) -> None:
        """On the writer connection: in a batch's transaction, or one of its own."""
        row = (
            handler,
            parked.stream,
            parked.aggregate_id,
            parked.version,
            parked.position,
            parked.error,
            timestamp_out(parked.parked_at),
        )
        self._writing().execute(self._sql.parked.store, row)

    async def parked(self, handler: str) -> list[ParkedAggregate]:
        """What `handler` parked, in the order of the failed events' positions."""
        return await self._reader.run(self._select_parked, handler)

    def _select_parked(self, handler: str) -> list[ParkedAggregate]:
        connection = self._reader_connection or self._reading()
        rows = connection.execute(self._sql.parked.select, (handler,)).fetchall()
        return [
            ParkedAggregate(row[0], row[1], row[2], row[3], row[4], timestamp_in(row[5]))
            for row in rows
        ]

    async def unpark(self, handler: str, stream: str, aggregate_id: str) -> None:
        """Forget what `handler` parked of that aggregate."""
        await self._write(self._unpark, handler, stream, aggregate_id)

    def _unpark(self, handler: str, stream: str, aggregate_id: str) -> None:
        self._writing().execute(self._sql.parked.delete, (handler, stream, aggregate_id))

    async def processed(self, inbox: str, key: str) -> bool:
        """Whether `inbox` recorded `key`."""
        return await self._reader.run(self._select_processed, inbox, key)

    def _select_processed(self, inbox: str, key: str) -> bool:
        connection = self._reader_connection or self._reading()
        return connection.execute(self._sql.processed.read, (inbox, key)).fetchone() is not None

    async def mark_processed(self, inbox: str, key: str) -> None:
        """Record `key` for `inbox` (nothing if it is recorded already)."""
        await self._write(self._mark_processed, inbox, key)

    def _mark_processed(self, inbox: str, key: str) -> None:
        """On the writer connection, in a transaction of its own (autocommitted)."""
        record = (inbox, key, timestamp_out(datetime.now(UTC)))
        self._writing().execute(self._sql.processed.record, record)

    async def beat(self, group: str, member: str, ttl: float) -> list[str]:
        """Keep `member` of `group` alive `ttl` seconds more; the live members, sorted.

        One write transaction: store its expiry, forget the members whose time ran out,
        read the others.
        """
        return await self._write(self._beat, group, member, ttl)

    def _beat(self, group: str, member: str, ttl: float) -> list[str]:
        now, expires = expiry_millis(ttl)
        statements = self._sql.members
        with self._begin() as connection:  # sqlite3 commits, or rolls back on an error
            connection.execute(statements.store, (group, member, expires))
            connection.execute(statements.expire, (group, now))
            rows = connection.execute(statements.select, (group,)).fetchall()
        return sorted(row[0] for row in rows)

    async def leave(self, group: str, member: str) -> None:
        """Forget `member` of `group`."""
        await self._write(self._leave, group, member)

    def _leave(self, group: str, member: str) -> None:
        self._writing().execute(self._sql.members.delete, (group, member))

    async def _list_members(self, group: str) -> list[str]:
        """The live members of `group`, sorted."""
        return await self._reader.run(self._select_members, group)

    def _select_members(self, group: str) -> list[str]:
        connection = self._reader_connection or self._reading()
        rows = connection.execute(self._sql.members.select, (group,)).fetchall()
        return unexpired(rows, expiry_millis(0)[0])

    # -- handlers: leases and transactions --------------------------------------------------

    def lease(self, name: str) -> Lease:
        """A lock file beside the database; the same file `SqlAlchemyBackend` locks."""
        return FileLease(*self._lease_file(name))

    async def _lease_holder(self, name: str) -> str | None:
        """The label its holder wrote in the lock file, if a process holds the lock."""
        return await file_lease_holder(*self._lease_file(name))

    def _lease_file(self, name: str) -> tuple[Path, str, str]:
        return self.path.resolve().parent, f"{self.path.name}:{self.names.events}", name

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
                yield SqliteBatchTransaction(
                    connection, self._commit_bookmark, self._park, self._unpark
                )
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
        statements = self._sql.bookmark
        if connection.execute(statements.move, (position, name, expected)).rowcount == 1:
            return
        row = connection.execute(statements.read, (name,)).fetchone()
        check_unmoved(name, expected, None if row is None else row[0])
        connection.execute(statements.insert, (name, position))

    async def close(self) -> None:
        """Close both connections and stop the threads; the backend cannot be used after."""
        if self._closed:
            return
        self._closed = True
        self._append_on_the_writer_thread()
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


def _log_checkpoint_failure(checkpoint: asyncio.Future[None]) -> None:
    if not checkpoint.cancelled() and (error := checkpoint.exception()) is not None:
        log.warning("could not checkpoint the SQLite log: %s", error)
