"""`PostgresBackend`: the backend's statements, on connections `HeldConnections` keeps."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncGenerator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from ..._errors import BookmarkMoved, EventEncodeError
from .._support import jsontext
from .._support.buckets import KeyedPage, read_bucket
from .._support.outage import DEFAULT_TIMEOUT, Sending
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
    numbered,
    unexpired,
)
from ..names import TableNames
from ..sql import _pg_positions as _positions
from ..sql._bookmarks import (
    bookmark_statements,
    member_statements,
    parked_statements,
    parked_values,
    processed_statements,
)
from ..sql._buckets import FILL_BATCH, NO_POSITION_ABOVE, fill_statements, fill_values
from ..sql._ddl import add_column_statements, schema_sql
from ..sql._identifiers import quote
from ..sql._listing import (
    Statement,
    code_point_probe,
    listing_statements,
    postgres_aggregates,
)
from ..sql._pg_errors import LOST, OUTAGE
from ..sql._pg_lease import (
    PgConnection,
    advisory_key,
    advisory_leases,
    holder_description,
    holder_sql,
    key_parts,
)
from ..sql._pg_listen import PgListener
from ._batch import PgBatchTransaction
from ._connections import HeldConnections, PoolConnection, log
from ._notify import DEFAULT_NOTIFY_INTERVAL, NOTIFY_SQL, AfterCommitNotifier

_COLUMNS = "position, stream, aggregate_id, version, type, data, timestamp, event_version"
"""What a read of streams selects; then, with metadata, the next two."""
_METADATA_COLUMNS = f"{_COLUMNS}, event_id::text AS event_id, metadata"
"""Event ids as text (records carry `str`), metadata as its stored text."""


_HOLDER_SQL = holder_sql("$1", "$2")


class PostgresBackend(Backend):
    """A `Backend` on an asyncpg connection pool.

    `PostgresBackend.connect(dsn)` makes the pool; or pass your own pool (its
    connections need no special setup: JSON is encoded here). With a pool made by
    `connect()`, the backend keeps the connections its statements used checked out,
    ready for the next statement, and uses at most `max_size - 1` at a time: one is
    always left for code that acquires from `pool` itself.

    No call waits longer than `timeout` seconds for a connection. When the server
    cannot be reached or a connection is lost, calls raise `StoreUnavailable`.

    Each append is announced to listening handlers (NOTIFY) after it commits. The
    first announcement after a quiet spell goes at once; during a burst of appends
    they go together, at most one every `notify_interval` seconds (0: one after each
    commit), which spares both processes a statement per command.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        tables: TableNames | None = None,
        dsn: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        notify_interval: float = DEFAULT_NOTIFY_INTERVAL,
    ) -> None:
        self.pool = pool
        self.names = tables or TableNames()
        self._dsn = dsn
        self._owns_pool = False
        self._connections = HeldConnections(pool, limit=0, timeout=timeout)
        self._leases = advisory_leases(
            self._lease_connection, self._give_back_lent, self._discard_lent, timeout=timeout
        )
        """The locks of every lease of this backend, on one connection of the pool."""
        self._notifier = AfterCommitNotifier(self._notify, interval=notify_interval)
        events, snapshots = quote(self.names.events), quote(self.names.snapshots)
        bookmarks = quote(self.names.bookmarks)
        self._events, self._snapshots, self._bookmarks = events, snapshots, bookmarks
        self._bookmark_sql = bookmark_statements(bookmarks, "$")
        self._parked_sql = parked_statements(quote(self.names.parked), "$")
        self._member_sql = member_statements(quote(self.names.members), "$")
        # One statement: store the expiry, read the group as it was before.
        self._sql_beat = f"WITH beat AS ({self._member_sql.store}) {self._member_sql.select}"
        # One statement: update from the expected position, or insert at none from 0.
        self._sql_move_bookmark = (
            f"WITH moved AS (UPDATE {bookmarks} SET position = $3 "
            "WHERE name = $1 AND position = $2 RETURNING 1), "
            f"inserted AS (INSERT INTO {bookmarks} (name, position) SELECT $1, $3 "
            "WHERE $2 = 0 AND NOT EXISTS (SELECT 1 FROM moved) "
            "ON CONFLICT (name) DO NOTHING RETURNING 1) "
            "SELECT EXISTS (SELECT 1 FROM moved) OR EXISTS (SELECT 1 FROM inserted), "
            f"(SELECT position FROM {bookmarks} WHERE name = $1)"
        )
        self._sql_append = _positions.append_sql(events, notify=False)
        processed = quote(self.names.processed)
        self._sql_append_once = _positions.append_sql(events, notify=False, processed=processed)
        self._processed_sql = processed_statements(processed, "$")
        # Per stream, so each reads its index in order and stops at the limit (with
        # `stream = any(...)` PostgreSQL would fetch every later event and sort them).
        # One stream too: named as a constant, on a table not yet analysed, the planner
        # would expect a few rows and scan the whole stream to sort it, on every page.
        per_stream = (
            f"WITH h AS MATERIALIZED (SELECT {_positions.HORIZON} AS horizon) SELECT e.* "
            "FROM h, unnest($1::varchar[]) AS s(name) CROSS JOIN LATERAL "
        )
        one_aggregate = (
            f"FROM {events} WHERE stream = $1 AND aggregate_id = $2 AND version > $3 "
            "ORDER BY version LIMIT $4"
        )
        self._sql_read_aggregate = (
            "SELECT position, version, type, data, event_version, timestamp, "
            f"event_id::text, metadata {one_aggregate}"
        )
        self._sql_read_bare = f"SELECT position, version, type, data, event_version {one_aggregate}"
        """`_sql_read_aggregate` without the columns only `EventMeta` reads."""

        def page(condition: str = "") -> str:
            return (
                f"FROM {events} WHERE stream = s.name AND position > $2 AND position < h.horizon "
                f"{condition}ORDER BY position LIMIT $3) AS e ORDER BY e.position LIMIT $3"
            )

        self._sql_read_streams = f"{per_stream}(SELECT {_METADATA_COLUMNS} {page()}"
        self._sql_read_streams_bare = f"{per_stream}(SELECT {_COLUMNS} {page()}"
        """`_sql_read_streams` without event ids and metadata."""
        # A bucket's: the same, of bucket $5 of $4 and the events without a key.
        bucket = page("AND (bucket_key % $4 = $5 OR bucket_key IS NULL) ")
        self._sql_read_bucket = f"{per_stream}(SELECT {_METADATA_COLUMNS}, bucket_key {bucket}"
        self._sql_read_bucket_bare = f"{per_stream}(SELECT {_COLUMNS}, bucket_key {bucket}"
        self._fill_sql = fill_statements(self.names.events, "postgresql", "$")
        self._listing = listing_statements(self.names, "postgresql", "$")
        self._code_point_probe = code_point_probe(self.names)
        self._ids_by_code_point: Statement | None = None
        """How aggregate ids are listed, once the events table's collation is known."""
        self._sql_last_position = (
            f"SELECT max(e.position) FROM ({per_stream}(SELECT position FROM {events} "
            "WHERE stream = s.name AND position < h.horizon ORDER BY position DESC LIMIT 1) "
            "AS e) AS e"
        )

    @classmethod
    async def connect(
        cls,
        dsn: str,
        *,
        tables: TableNames | None = None,
        min_size: int = 2,
        max_size: int = 10,
        timeout: float = DEFAULT_TIMEOUT,
        notify_interval: float = DEFAULT_NOTIFY_INTERVAL,
    ) -> PostgresBackend:
        """A backend on a new pool to `dsn`; `close()` closes the pool.

        `timeout` bounds each wait for a connection, opening one included.
        """
        with OUTAGE.during("connecting"):
            pool = await asyncpg.create_pool(
                dsn,
                min_size=min_size,
                max_size=max_size,
                reset=_keep_session,
                timeout=timeout,
            )
        backend = cls(
            pool, tables=tables, dsn=dsn, timeout=timeout, notify_interval=notify_interval
        )
        backend._owns_pool = True
        backend._connections.limit = max_size - 1
        return backend

    def schema_sql(self) -> str:
        """The CREATE statements `create_schema()` runs (it adds missing columns after them)."""
        return schema_sql(self.names, "postgresql", if_not_exists=True)

    async def create_schema(self) -> None:
        """Create the tables and index that do not exist yet; add the columns a store lacks.

        A store made before event ids and metadata gets their columns (its events read
        back with none). Each ALTER TABLE runs only if a column is missing: even one
        that adds nothing waits for every transaction reading the table, and blocks
        reads while it waits. Then the events stored before bucket keys get theirs,
        `sql._buckets.FILL_BATCH` at a time, each batch in a transaction of its own; on a
        filled store, that is one look at the first and the last event.
        """
        with OUTAGE.during("create_schema"):
            async with self.pool.acquire(timeout=self._connections.timeout) as connection:
                await connection.execute(self.schema_sql())
                rows = await connection.fetch(
                    "SELECT attname::text FROM pg_attribute WHERE attrelid = to_regclass($1) "
                    "AND attnum > 0 AND NOT attisdropped",
                    self._events,
                )
                present = {self.names.events: {row[0] for row in rows}}
                for statement in add_column_statements(self.names, "postgresql", present):
                    await connection.execute(statement)
                fill = self._fill_sql
                before: int | None = (
                    NO_POSITION_ABOVE if await connection.fetch(fill.probe) else None
                )
                while before is not None:
                    async with connection.transaction():
                        found = await connection.fetch(fill.unkeyed, before, FILL_BATCH)
                        if found:
                            await connection.executemany(fill.fill, fill_values(found))
                    before = found[-1][0] if len(found) == FILL_BATCH else None

    async def drop_schema(self) -> None:
        """Drop the tables (and every event in them)."""
        await self._script(
            "drop_schema",
            f"DROP TABLE IF EXISTS {self._events}, {self._snapshots}, {self._bookmarks}, "
            f"{quote(self.names.parked)}, {quote(self.names.members)}, "
            f"{quote(self.names.processed)}",
        )

    async def _append(
        self,
        stream: str,
        aggregate_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        *,
        once: Once | None = None,
    ) -> Sequence[EventRecord]:
        """Append atomically after `expected_version`: one statement, one round trip.

        With `once`, the same statement records its key first (`_pg_positions.append_sql`).
        """
        metadata = jsontext.texts([e.metadata for e in events])
        arguments = _positions.append_arguments(
            stream, aggregate_id, expected_version, events, metadata, once=once
        )
        statement = self._sql_append if once is None else self._sql_append_once
        try:
            with OUTAGE.appending(stream, aggregate_id) as sending:
                rows = await self._statement(statement, arguments, sending)
        except asyncpg.UntranslatableCharacterError as error:
            raise EventEncodeError(
                "PostgreSQL cannot store the NUL character (\\u0000) in JSON strings"
            ) from error
        first = _positions.outcome(rows[0], stream, aggregate_id, expected_version, once)
        self._notifier.announce(stream)
        return numbered(stream, aggregate_id, expected_version, first, events, metadata)

    async def processed(self, inbox: str, key: str) -> bool:
        """Whether `inbox` recorded `key`."""
        return bool(await self._fetch("processed", self._processed_sql.read, inbox, key))

    async def mark_processed(self, inbox: str, key: str) -> None:
        """Record `key` for `inbox` (nothing if it is recorded already)."""
        now = datetime.now(UTC)
        await self._fetch("mark_processed", self._processed_sql.record, inbox, key, now)

    def _is_version_clash(self, error: Exception) -> bool:
        """Whether `error` is a second event at one version: the version constraint refused it."""
        return (
            isinstance(error, asyncpg.UniqueViolationError)
            and error.constraint_name == self.names.version_constraint
        )

    async def _notify(self, streams: list[str]) -> None:
        await self._fetch("notify", NOTIFY_SQL, self.channel, streams)

    async def _statement(
        self, query: str, arguments: tuple[object, ...], sending: Sending | None = None
    ) -> list[asyncpg.Record]:
        """The rows of one statement on a held connection."""
        connection = await self._connections.take()
        if sending is not None:
            sending.sent()
        try:
            rows: list[asyncpg.Record] = await connection.fetch(query, *arguments)
        except BaseException:
            await self._connections.give_back(connection)
            raise
        await self._connections.done(connection)
        return rows

    async def _script(self, action: str, sql: str) -> None:
        """Run `sql`, which may hold several statements, on a connection of the pool."""
        with OUTAGE.during(action):
            async with self.pool.acquire(timeout=self._connections.timeout) as connection:
                await connection.execute(sql)

    async def _fetch(self, action: str, query: str, *arguments: object) -> list[asyncpg.Record]:
        """The rows of one statement; `StoreUnavailable` naming `action` if the store is."""
        with OUTAGE.during(action):
            return await self._statement(query, arguments)

    @property
    def channel(self) -> str:
        """The NOTIFY channel appends announce themselves on."""
        return self.names.events

    @staticmethod
    def _records(rows: list[asyncpg.Record], metadata: bool) -> list[EventRecord]:
        payloads = jsontext.loads_documents([r[5] for r in rows])  # jsonb: server-validated
        if metadata:
            return [
                EventRecord(r[1], r[2], r[3], r[0], r[6], r[4], data, r[8], r[7], r[9])
                for r, data in zip(rows, payloads, strict=True)
            ]
        return [
            EventRecord(r[1], r[2], r[3], r[0], r[6], r[4], data, None, r[7])
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
        rows = await self._fetch(
            "read_aggregate",
            self._sql_read_aggregate if meta else self._sql_read_bare,
            stream,
            aggregate_id,
            after_version,
            limit,
        )
        payloads = jsontext.loads_documents([r[3] for r in rows])  # jsonb: server-validated
        if meta:
            return [
                EventRecord(stream, aggregate_id, r[1], r[0], r[5], r[2], data, r[6], r[4], r[7])
                for r, data in zip(rows, payloads, strict=True)
            ]
        return [
            EventRecord(stream, aggregate_id, r[1], r[0], NOT_READ, r[2], data, None, r[4])
            for r, data in zip(rows, payloads, strict=True)
        ]

    async def _read_streams(
        self, streams: tuple[str, ...], after_position: int, limit: int, metadata: bool
    ) -> Sequence[EventRecord]:
        """Events of `streams` after `after_position` that no earlier commit can precede."""
        statement = self._sql_read_streams if metadata else self._sql_read_streams_bare
        rows = await self._fetch("read_streams", statement, streams, after_position, limit)
        return self._records(rows, metadata)

    async def _read_bucket(
        self,
        streams: tuple[str, ...],
        after_position: int,
        limit: int,
        metadata: bool,
        bucket: Bucket,
    ) -> Sequence[EventRecord]:
        """`_read_streams` of `bucket` only.

        The same statement, with the bucket filtered as each stream's (stream, position)
        index is read, below the same horizon.
        """
        statement = self._sql_read_bucket if metadata else self._sql_read_bucket_bare

        async def read(after: int, wanted: int) -> KeyedPage:
            rows = await self._fetch(
                "read_streams", statement, streams, after, wanted, bucket.count, bucket.index
            )
            return self._records(rows, metadata), [r[-1] for r in rows]

        return await read_bucket(read, after_position, limit, bucket)

    async def last_position(self, streams: Sequence[str]) -> int:
        """The highest position a reader of `streams` can see now; 0 if none."""
        found: int | None = (
            await self._fetch("last_position", self._sql_last_position, list(streams))
        )[0][0]
        return found or 0

    async def _list_streams(self) -> list[str]:
        """The streams, by lookups in the (stream, position) index (see `sql._listing`)."""

        async def read(after: str | None, wanted: int) -> list[str]:
            listing = self._listing
            if after is None:
                statement = listing.first_streams
                arguments = statement.arguments(limit=wanted)
            else:
                statement = listing.streams
                arguments = statement.arguments(after=after, limit=wanted)
            return [row[0] for row in await self._fetch("list streams", statement.text, *arguments)]

        return await listed(read, None, sys.maxsize)

    async def _list_aggregate_ids(self, stream: str, after: str, limit: int) -> list[str]:
        """The ids, by lookups in the version constraint's index where it sorts by code point.

        Where the database's collation does not, a read of the stream's index entries
        per page (see `sql._listing`).
        """
        statement = self._ids_by_code_point
        if statement is None:
            rows = await self._fetch("list aggregates", self._code_point_probe.text)
            statement = postgres_aggregates(self.names, rows[0] if rows else None)
            if rows:
                self._ids_by_code_point = statement

        async def read(after: str | None, wanted: int) -> list[str]:
            arguments = statement.arguments(stream=stream, after=after, limit=wanted)
            return [
                row[0] for row in await self._fetch("list aggregates", statement.text, *arguments)
            ]

        return await listed(read, after, limit)

    async def get_snapshot(self, stream: str, aggregate_id: str) -> SnapshotRecord | None:
        """The stored snapshot of one aggregate."""
        rows = await self._fetch(
            "get_snapshot",
            f"SELECT version, key, state FROM {self._snapshots} "
            "WHERE stream = $1 AND aggregate_id = $2",
            stream,
            aggregate_id,
        )
        if not rows:
            return None
        row = rows[0]
        return SnapshotRecord(stream, aggregate_id, row[0], row[1], jsontext.loads(row[2]))

    async def put_snapshot(self, snapshot: SnapshotRecord) -> None:
        """Store `snapshot` unless a newer one under the same key is stored."""
        await self._fetch(
            "put_snapshot",
            f"INSERT INTO {self._snapshots} AS s (stream, aggregate_id, version, key, state) "
            "VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT (stream, aggregate_id) DO UPDATE "
            "SET version = excluded.version, key = excluded.key, state = excluded.state "
            "WHERE s.key <> excluded.key OR s.version <= excluded.version",
            snapshot.stream,
            snapshot.aggregate_id,
            snapshot.version,
            snapshot.key,
            jsontext.dumps(snapshot.state),
        )

    async def get_bookmark(self, name: str) -> int:
        """The position stored for `name`; 0 if none."""
        rows = await self._fetch("get_bookmark", self._bookmark_sql.read, name)
        return rows[0][0] if rows else 0

    async def _list_bookmarks(self) -> dict[str, int]:
        """Every bookmark stored."""
        rows = await self._fetch("list bookmarks", self._bookmark_sql.every)
        return {row[0]: row[1] for row in rows}

    async def set_bookmark(self, name: str, position: int) -> None:
        """Store `position` for `name`."""
        await self._fetch(
            "set_bookmark",
            self._bookmark_sql.store,
            name,
            position,
        )

    async def move_bookmark(self, name: str, expected: int, position: int) -> None:
        """Store `position` for `name` if `expected` is stored, else raise `BookmarkMoved`."""
        rows = await self._fetch("move_bookmark", self._sql_move_bookmark, name, expected, position)
        moved, found = rows[0]
        if not moved and found != position:
            raise BookmarkMoved(name, expected, found)

    async def park(self, handler: str, parked: ParkedAggregate) -> None:
        """Store `parked` for `handler`, replacing what was stored for that aggregate."""
        await self._fetch("park", self._parked_sql.store, handler, *parked_values(parked))

    async def parked(self, handler: str) -> list[ParkedAggregate]:
        """What `handler` parked, in the order of the failed events' positions."""
        rows = await self._fetch("parked", self._parked_sql.select, handler)
        return [ParkedAggregate(*row) for row in rows]

    async def unpark(self, handler: str, stream: str, aggregate_id: str) -> None:
        """Forget what `handler` parked of that aggregate."""
        await self._fetch("unpark", self._parked_sql.delete, handler, stream, aggregate_id)

    async def beat(self, group: str, member: str, ttl: float) -> list[str]:
        """Keep `member` of `group` alive `ttl` seconds more; the live members, sorted.

        One statement stores its expiry and reads the group; only if some member's time
        ran out, a second forgets them. Each commits alone, holding no lock the other
        waits for: members beating at once never deadlock.
        """
        now, expires = expiry_millis(ttl)
        rows = await self._fetch("beat", self._sql_beat, group, member, expires)
        live, expired = live_members(rows, member, now)
        if expired:
            await self._fetch("beat", self._member_sql.expire, group, now)
        return live

    async def leave(self, group: str, member: str) -> None:
        """Forget `member` of `group`."""
        await self._fetch("leave", self._member_sql.delete, group, member)

    async def _list_members(self, group: str) -> list[str]:
        """The live members of `group`, sorted."""
        rows = await self._fetch("list members", self._member_sql.select, group)
        return unexpired(rows, expiry_millis(0)[0])

    def lease(self, name: str) -> Lease:
        """The lease of handler `name`: an advisory lock on the leases' pooled connection."""
        return self._leases.lease(advisory_key(self.names.events, name), "taking a handler lease")

    async def _lease_holder(self, name: str) -> str | None:
        """The session holding the advisory lock of `name` (`pg_locks`, `pg_stat_activity`).

        Its application name is the holder's `process_label()`, set by its leases'
        connection, if evtsrc took it.
        """
        parts = key_parts(advisory_key(self.names.events, name))
        rows = await self._fetch(f"find who holds lease {name!r}", _HOLDER_SQL, *parts)
        return holder_description(tuple(rows[0]) if rows else None)

    async def _lease_connection(self) -> PoolConnection:
        return await self._connections.take()

    async def _give_back_lent(self, connection: PgConnection) -> None:
        assert isinstance(connection, PoolConnectionProxy)
        await self._reset_and_give_back(connection)

    async def _discard_lent(self, connection: PgConnection) -> None:
        assert isinstance(connection, PoolConnectionProxy)
        self._connections.discard(connection)

    async def _reset_and_give_back(self, connection: PoolConnection) -> None:
        """Undo the session state code it was lent to left (a full asyncpg reset).

        A connection that cannot be reset in time is closed instead.
        """
        try:
            async with asyncio.timeout(self._connections.timeout):
                await connection.reset()
        except (*LOST, asyncpg.InterfaceError, asyncpg.PostgresError):
            self._connections.discard(connection)
        except BaseException:
            self._connections.discard(connection)
            raise
        else:
            await self._connections.give_back(connection)

    @asynccontextmanager
    async def batch_transaction(self) -> AsyncGenerator[PgBatchTransaction]:
        """A transaction for a handler's batch and its bookmark; commits on success."""
        with OUTAGE.during("starting a handler's transaction"):
            connection = await self._connections.take()
        try:
            async with connection.transaction():
                yield PgBatchTransaction(connection, self._bookmark_sql, self._parked_sql)
        finally:
            # The handler's own code ran on this connection.
            await self._reset_and_give_back(connection)

    async def listen(self, streams: Sequence[str]) -> AppendListener:
        """A LISTEN connection woken by every commit to `streams`."""
        with OUTAGE.during("listening for appends"):
            return await PgListener.open(self._connect_args(), self.channel, streams)

    def _connect_args(self) -> str:
        if self._dsn is None:
            raise RuntimeError("PostgresBackend made from a pool cannot LISTEN: pass dsn= as well")
        return self._dsn

    async def close(self) -> None:
        """Close the pool if this backend made it (after giving back what it holds).

        The pool waits up to `timeout` seconds for connections still in use (a started
        handler's lease, a statement under way), then closes them as they are.
        """
        await self._notifier.flush()
        await self._connections.release_all()
        if self._owns_pool:
            try:
                async with asyncio.timeout(self._connections.timeout):
                    await self.pool.close()
            except TimeoutError:
                log.warning(
                    "closing the PostgreSQL pool: connections still in use after %.1f s "
                    "(is a handler still running?) were closed",
                    self._connections.timeout,
                )
                self.pool.terminate()


async def _keep_session(connection: object) -> None:
    """The pool's reset for evtsrc's own statements, which leave no session state behind.

    asyncpg's default reset costs a round trip on every release; an open transaction
    is still rolled back (asyncpg does that before calling this). Connections lent to
    other code (leases, transactional handlers) are reset before they go back.
    """
