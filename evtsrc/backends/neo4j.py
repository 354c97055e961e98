"""Event storage on Neo4j 4.4 and 5 through the official driver's async API.

Events are nodes labelled after the events table name of `TableNames`, with a
composite uniqueness constraint on (stream, aggregate_id, version). Payloads
and metadata are JSON text (node properties cannot hold maps); records carry the
metadata text unparsed. Nodes written before stores kept ids and metadata have no
`event_id`, `event_version` or `metadata` property and read back as None, 1 and None.
Each node also holds its aggregate's `bucket_key` (`base.bucket_key`), which bucket
reads filter on; `create_schema()` adds it to the nodes written before it. The keys
inboxes processed (`ProcessedMessages`) are nodes unique by (inbox, key).

Global order: an append increments one counter node in its own transaction.
Neo4j holds the counter's write lock until commit, so appends commit in
position order and a reader never sees a position before a lower one that
is still to commit. The cost: appends of the whole store take turns at the
counter. Neo4j Community has no change feed, so handlers poll.

Every statement is one that Neo4j 4.4 and 5 (and the 2025 releases after 5) both
accept, so the backend has no per-version branches; it reads the server's version
on first contact only to refuse older servers with a clear error.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, LiteralString

import msgspec
from neo4j import AsyncDriver, AsyncGraphDatabase, AsyncManagedTransaction, Query
from neo4j.exceptions import (
    ClientError,
    ConnectionAcquisitionTimeoutError,
    ConstraintError,
    ServiceUnavailable,
    SessionExpired,
    TransientError,
)
from neo4j.time import DateTime

from .._errors import AlreadyProcessed, BookmarkMoved, UnsupportedStore, VersionConflict
from ._support import jsontext
from ._support.buckets import KeyedPage, read_bucket
from ._support.expiring import ExpiringLease
from ._support.layouts import cypher_name as _label
from ._support.layouts import neo4j_labels, neo4j_schema
from ._support.outage import Outage, unavailable
from .base import (
    Backend,
    Bucket,
    EventRecord,
    Lease,
    NewEvent,
    Once,
    ParkedAggregate,
    SnapshotRecord,
    bucket_key,
    expiry_millis,
    live_members,
    numbered,
    unexpired,
)
from .names import TableNames
from .sql._buckets import FILL_BATCH, NO_POSITION_ABOVE, fill_values

CONSTRAINT_FAILED = "Neo.ClientError.Schema.ConstraintValidationFailed"
DATABASE_UNAVAILABLE = frozenset(
    {
        "Neo.TransientError.General.DatabaseUnavailable",
        "Neo.TransientError.Database.DatabaseUnavailable",  # Neo4j 4.4, as it stops or starts
    }
)
ENDED_BY_THE_SERVER = frozenset(
    {
        "Neo.ClientError.Transaction.TransactionTimedOut",  # Neo4j 4.4
        "Neo.ClientError.Transaction.TransactionTimedOutClientConfiguration",  # Neo4j 5
        "Neo.ClientError.Transaction.LockClientStopped",  # ended while waiting for a lock
        "Neo.ClientError.Transaction.Terminated",  # ended while running
    }
)
"""The server ended a transaction before its commit: nothing of it was committed.

It was past its time (the one given with it, as leases and bookmark moves hold theirs
briefly, or the server's own limit), or the server was stopping (Neo4j 4.4 terminates
what it runs), or an administrator terminated it. The server sends the last two as
transient; the driver reports them as client errors and does not retry them.
"""
FORGET_AFTER_MS = 60_000
"""How long after its time ran out a group member's node is deleted (see `beat`)."""
DELETE_BATCH = 10_000
"""Nodes `drop_schema` deletes per transaction, so a large store never needs one huge one."""


def _database_unavailable(error: BaseException) -> bool:
    """Whether the server answered that it cannot serve now: an outage to wait out.

    Its database is not up (starting or stopping), or it ended a transaction before its
    commit (see `ENDED_BY_THE_SERVER`).
    """
    if isinstance(error, TransientError):
        return error.code in DATABASE_UNAVAILABLE
    return isinstance(error, ClientError) and error.code in ENDED_BY_THE_SERVER


OUTAGE = Outage(
    "Neo4j",
    (ServiceUnavailable, SessionExpired, ConnectionAcquisitionTimeoutError),
    also=_database_unavailable,
)
"""The driver's outage errors.

An append's outcome is unknown once one of the driver's tries of it reached its commit:
the driver retries a transaction whose commit failed in ways it takes for transient, so
the error that ends the last try says nothing of the earlier ones.
"""


class _EarlierTryMayHaveCommitted(Exception):
    """A retried append found its version taken: perhaps by its own earlier try."""

    def __init__(self) -> None:
        super().__init__(
            "the driver tried the append again after a lost connection and found its "
            "version taken, perhaps by its own earlier try"
        )


def _cypher(text: str) -> LiteralString:
    """Cypher built from this store's own label names, never from user input."""
    return text  # pyright: ignore[reportReturnType]


OLDEST_SUPPORTED = (4, 4)
"""The oldest Neo4j evtsrc supports: 4.4 is the first with the schema statements it uses."""

_VERSION = re.compile(r"Neo4j/(\d+)\.(\d+)")


def supported_version(agent: str) -> tuple[int, int]:
    """The (major, minor) version in a server's agent string, if evtsrc supports it.

    Raises `UnsupportedStore` for servers older than 4.4 and for agents that are not Neo4j.
    """
    found = _VERSION.match(agent)
    if found is None:
        raise UnsupportedStore(
            f"Neo4jBackend needs a Neo4j server; the server calls itself {agent!r}"
        )
    version = (int(found[1]), int(found[2]))
    if version < OLDEST_SUPPORTED:
        raise UnsupportedStore(
            f"Neo4jBackend needs Neo4j 4.4 or later; the server is {agent!r} "
            "(3.5 and 4.0-4.3 lack the schema statements evtsrc uses, and are out of support)"
        )
    return version


class Neo4jBackend(Backend):
    """A `Backend` on a Neo4j 4.4 or 5 database (or a later one: 2025.x).

    An unreachable server, a lost connection or no pooled connection free in time
    raises `StoreUnavailable`. The driver retries a transaction that met an outage
    for up to its `max_transaction_retry_time` (30 s) before that. The first call that
    reaches the server raises `UnsupportedStore` if it is older than Neo4j 4.4. A
    handler's lease is a node that lasts `lease_ttl` seconds by the server's clock
    unless its runner renews it: a runner that dies hands over to a standby within
    that time.
    """

    def __init__(
        self,
        driver: AsyncDriver,
        *,
        database: str | None = None,
        labels: TableNames | None = None,
        owns_driver: bool = False,
        lease_ttl: float = 10.0,
    ) -> None:
        self.driver = driver
        self.database = database
        self.names = labels or TableNames()
        self._event = _label(self.names.events)
        self._snapshot = _label(self.names.snapshots)
        self._bookmark = _label(self.names.bookmarks)
        self._parked = _label(self.names.parked)
        self._member = _label(self.names.members)
        self._processed = _label(self.names.processed)
        self._counter = _label(f"{self.names.prefix}counter")
        self._lease = _label(f"{self.names.prefix}lease")
        self._owns_driver = owns_driver
        self._version: tuple[int, int] | None = None
        if not lease_ttl > 0:
            raise ValueError(f"lease_ttl must be more than 0 seconds, not {lease_ttl!r}")
        self.lease_ttl = lease_ttl
        """Seconds a handler's lease lasts unless its runner renews it."""

    @classmethod
    def connect(
        cls,
        uri: str,
        *,
        auth: tuple[str, str] | None = None,
        database: str | None = None,
        labels: TableNames | None = None,
        connection_acquisition_timeout: float = 10.0,
        connection_timeout: float = 10.0,
        max_transaction_retry_time: float = 30.0,
        lease_ttl: float = 10.0,
    ) -> Neo4jBackend:
        """A backend on a new driver for `uri`; `close()` closes the driver.

        `connection_acquisition_timeout` bounds the wait for a pooled connection
        (the driver's default is 60 s), `connection_timeout` a new one (30 s) and
        `max_transaction_retry_time` how long a write is retried through an outage.
        """
        driver = AsyncGraphDatabase.driver(  # pyright: ignore[reportUnknownMemberType]
            uri,
            auth=auth,
            connection_acquisition_timeout=connection_acquisition_timeout,
            connection_timeout=connection_timeout,
            max_transaction_retry_time=max_transaction_retry_time,
        )
        return cls(driver, database=database, labels=labels, owns_driver=True, lease_ttl=lease_ttl)

    async def server_version(self) -> tuple[int, int]:
        """The server's (major, minor) version, e.g. (4, 4), (5, 26) or (2025, 10).

        Read from the server once, on first contact; raises `UnsupportedStore` for
        a server older than 4.4.
        """
        if self._version is None:
            with OUTAGE.during("read the server version"):
                info = await self.driver.get_server_info()  # pyright: ignore[reportUnknownMemberType]
            self._version = supported_version(info.agent)
        return self._version

    async def _run(
        self, query: str, /, *, held_for: float | None = None, **parameters: Any
    ) -> list[dict[str, Any]]:
        """The one place statements other than appends run.

        `held_for` bounds, on the server, how long the statement's transaction may
        stay open: one whose client froze before committing it is ended then, and its
        locks freed.
        """
        if self._version is None:
            await self.server_version()
        with OUTAGE.during(_action(query)):
            records, _, _ = await self.driver.execute_query(
                Query(_cypher(query), timeout=held_for), parameters, database_=self.database
            )
        return [record.data() for record in records]

    def _run_briefly(self, query: str, /, **parameters: Any) -> Awaitable[list[dict[str, Any]]]:
        """`_run` for the statements of leases and bookmark moves, held a third of `lease_ttl`.

        A frozen holder of their locks then keeps a standby from taking over no longer
        than that and the server's check for transactions past their time (every 2 s
        by default).
        """
        return self._run(query, held_for=self.lease_ttl / 3, **parameters)

    async def create_schema(self) -> None:
        """Create the constraints and index that do not exist yet; fill in bucket keys.

        The event nodes stored before bucket keys get theirs (see `_fill_bucket_keys`).
        """
        for statement in neo4j_schema(self.names):
            await self._run(statement)
        await self._fill_bucket_keys()

    async def _fill_bucket_keys(self) -> None:
        """Set `bucket_key` on the event nodes stored without it, as the SQL stores do.

        Down from the newest node without one, `sql._buckets.FILL_BATCH` at a time, each
        batch a transaction of its own that updates each aggregate it found from its
        lowest position on. So nodes without a key are all below those with one, and if
        neither the oldest nor the newest lacks it (two looks at the position index),
        none does: that is all a filled store costs.
        """
        for way in ("ASC", "DESC"):
            end = await self._run(
                f"MATCH (e:{self._event}) WHERE e.position IS NOT NULL "
                f"RETURN e.bucket_key IS NULL AS missing ORDER BY e.position {way} LIMIT 1"
            )
            if end and end[0]["missing"]:
                break
        else:
            return
        before = NO_POSITION_ABOVE
        while True:
            found = await self._run(
                f"MATCH (e:{self._event}) WHERE e.position < $before AND e.bucket_key IS NULL "
                "RETURN e.position AS position, e.stream AS stream, e.aggregate_id AS id "
                "ORDER BY e.position DESC LIMIT $limit",
                before=before,
                limit=FILL_BATCH,
            )
            if found:
                rows = [(row["position"], row["stream"], row["id"]) for row in found]
                await self._run(
                    f"UNWIND $rows AS row MATCH (e:{self._event}) WHERE e.stream = row.stream "
                    "AND e.aggregate_id = row.id AND e.position >= row.low "
                    "AND e.bucket_key IS NULL SET e.bucket_key = row.key",
                    rows=[
                        {"key": key, "stream": stream, "id": aggregate_id, "low": low}
                        for key, stream, aggregate_id, low in fill_values(rows)
                    ],
                )
            if len(found) < FILL_BATCH:
                return
            before = found[-1]["position"]

    async def drop_schema(self) -> None:
        """Delete every node, constraint and index of this store."""
        labels = (self._event, self._snapshot, self._bookmark, self._counter, self._lease)
        for label in (*labels, self._parked, self._member, self._processed):
            while await self._delete_some(label):
                pass
        for row in await self._run("SHOW CONSTRAINTS YIELD name, labelsOrTypes"):
            if set(row["labelsOrTypes"] or ()) & self._labels():
                await self._run(f"DROP CONSTRAINT {_label(row['name'])} IF EXISTS")
        # The constraints' own indexes went with them: what is left stands alone.
        for row in await self._run("SHOW INDEXES YIELD name, labelsOrTypes"):
            if set(row["labelsOrTypes"] or ()) & self._labels():
                await self._run(f"DROP INDEX {_label(row['name'])} IF EXISTS")

    async def _delete_some(self, label: str) -> int:
        """Delete up to `DELETE_BATCH` nodes of `label`, in a transaction of their own."""
        rows = await self._run(
            f"MATCH (x:{label}) WITH x LIMIT $batch DETACH DELETE x RETURN count(*) AS deleted",
            batch=DELETE_BATCH,
        )
        return int(rows[0]["deleted"])

    def _labels(self) -> set[str]:
        return set(neo4j_labels(self.names))

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
        """Append in one transaction, which the driver retries after a transient failure.

        With `once`, the transaction first creates its key's node (see `_record_once`).
        """

        async def write(tx: AsyncManagedTransaction) -> list[EventRecord]:
            retried = sending.was_sent
            if once is not None:
                await self._record_once(tx, once)
            records = await self._write(tx, stream, aggregate_id, expected_version, events, retried)
            sending.sent()  # the driver commits next
            return records

        if self._version is None:
            await self.server_version()
        try:
            with OUTAGE.appending(stream, aggregate_id) as sending:
                async with self.driver.session(database=self.database) as session:  # pyright: ignore[reportUnknownMemberType]
                    return await session.execute_write(write)
        except _EarlierTryMayHaveCommitted as error:
            raise unavailable(
                "Neo4j", f"append to {stream}/{aggregate_id}", error, outcome_unknown=True
            ) from error

    async def _record_once(self, tx: AsyncManagedTransaction, once: Once) -> None:
        """Create `once`'s node in the append's transaction; `AlreadyProcessed` if it exists.

        The uniqueness constraint makes a second append with the key wait for the
        first one's transaction: if it commits, the create fails (a `ConstraintError`
        of this statement, the only constraint a processed node can break, so never
        mistaken for a version clash); if it rolls back, the create goes on.
        `AlreadyProcessed` is not a driver error: the driver rolls back and does not
        retry. A try the driver repeats after an earlier one reached its commit may
        find the earlier one's key: `AlreadyProcessed` is then still true (the
        message's append is stored once), unlike a version found taken.
        """
        try:
            created = await tx.run(
                _cypher(
                    f"CREATE (:{self._processed} "
                    "{inbox: $inbox, key: $key, processed_at: datetime()})"
                ),
                inbox=once.inbox,
                key=once.key,
            )
            await created.consume()
        except ConstraintError:
            raise AlreadyProcessed(once.inbox, once.key) from None

    async def _write(
        self,
        tx: AsyncManagedTransaction,
        stream: str,
        aggregate_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        retried: bool,
    ) -> list[EventRecord]:
        """The body of an append's transaction: check, take positions, create; not committed.

        `retried` says that an earlier try of this append reached its commit.
        """
        found = await tx.run(
            _cypher(
                f"MATCH (e:{self._event} {{stream: $stream, aggregate_id: $id}}) "
                "RETURN coalesce(max(e.version), 0) AS version",
            ),
            stream=stream,
            id=aggregate_id,
        )
        current = (await found.single(strict=True))["version"]
        if current != expected_version and retried:
            raise _EarlierTryMayHaveCommitted()
        if current != expected_version:
            raise VersionConflict(stream, aggregate_id, expected_version)
        counted = await tx.run(
            _cypher(
                f"MERGE (c:{self._counter} {{name: $name}}) "
                "SET c.position = coalesce(c.position, 0) + $count RETURN c.position AS top",
            ),
            name=self.names.events,
            count=len(events),
        )
        first = (await counted.single(strict=True))["top"] - len(events) + 1
        metadata = [jsontext.dumps(e.metadata) for e in events]
        records = numbered(stream, aggregate_id, expected_version, first, events, metadata)
        key = bucket_key(aggregate_id)
        await tx.run(
            _cypher(f"UNWIND $rows AS row CREATE (e:{self._event}) SET e = row"),
            rows=[_properties(r, key) for r in records],
        )
        return records

    def _is_version_clash(self, error: Exception) -> bool:
        """Whether `error` is the version constraint refusing a second event at one version."""
        if not isinstance(error, ConstraintError) or error.code != CONSTRAINT_FAILED:
            return False
        message = error.message or ""
        return f"label `{self.names.events}`" in message and "`version`" in message

    async def read_aggregate(
        self,
        stream: str,
        aggregate_id: str,
        *,
        after_version: int = 0,
        limit: int = 1000,
        meta: bool = True,
    ) -> Sequence[EventRecord]:
        """Events of one aggregate after `after_version`, by version, always with their meta."""
        rows = await self._run(
            f"MATCH (e:{self._event}) WHERE e.stream = $stream AND e.aggregate_id = $id "
            "AND e.version > $after RETURN e ORDER BY e.version LIMIT $limit",
            stream=stream,
            id=aggregate_id,
            after=after_version,
            limit=limit,
        )
        return [_record(row["e"]) for row in rows]

    async def _read_streams(
        self, streams: tuple[str, ...], after_position: int, limit: int, metadata: bool
    ) -> Sequence[EventRecord]:
        """Events of `streams` after `after_position`, by position, in one query (always whole)."""
        rows = await self._run(
            f"MATCH (e:{self._event}) WHERE e.position > $after AND e.stream IN $streams "
            "RETURN e ORDER BY e.position LIMIT $limit",
            streams=list(streams),
            after=after_position,
            limit=limit,
        )
        return [_record(row["e"]) for row in rows]

    async def _read_bucket(
        self,
        streams: tuple[str, ...],
        after_position: int,
        limit: int,
        metadata: bool,
        bucket: Bucket,
    ) -> Sequence[EventRecord]:
        """`_read_streams` of `bucket` only.

        The same query, with the bucket filtered (`%` of the stored key) as the
        (stream, position) index is read.
        """

        async def read(after: int, wanted: int) -> KeyedPage:
            rows = await self._run(
                f"MATCH (e:{self._event}) WHERE e.position > $after AND e.stream IN $streams "
                "AND (e.bucket_key % $count = $index OR e.bucket_key IS NULL) "
                "RETURN e ORDER BY e.position LIMIT $limit",
                streams=list(streams),
                after=after,
                limit=wanted,
                count=bucket.count,
                index=bucket.index,
            )
            nodes = [row["e"] for row in rows]
            return [_record(node) for node in nodes], [node.get("bucket_key") for node in nodes]

        return await read_bucket(read, after_position, limit, bucket)

    async def last_position(self, streams: Sequence[str]) -> int:
        """The highest position of `streams`; 0 if they are empty."""
        rows = await self._run(
            f"MATCH (e:{self._event}) WHERE e.stream IN $streams "
            "RETURN coalesce(max(e.position), 0) AS top",
            streams=list(streams),
        )
        return int(rows[0]["top"])

    async def _list_streams(self) -> list[str]:
        """The streams: one seek in the (stream, position) index for each, then one more."""
        found: list[str] = []
        while True:
            # The least text after a stream's name is the name and NUL, which no name holds.
            start = found[-1] + "\x00" if found else ""
            rows = await self._run(self._first_stream_query(), start=start)
            if not rows:
                return found
            found.append(rows[0]["stream"])

    def _first_stream_query(self) -> str:
        """The first stream from `$start` on, by one seek in the stream index.

        The index is named: the planner would scan the position index and sort every
        event. Its bound is inclusive: with `>`, it plans a scan of the index from its
        start, filtered.
        """
        return (
            f"MATCH (e:{self._event}) USING INDEX e:{self._event}(stream, position) "
            "WHERE e.stream >= $start AND e.position IS NOT NULL "
            "RETURN e.stream AS stream ORDER BY e.stream LIMIT 1"
        )

    async def _list_aggregate_ids(self, stream: str, after: str, limit: int) -> list[str]:
        """The ids of the aggregates' first events (version 1), from the version index."""
        rows = await self._run(self._aggregates_query(), stream=stream, after=after, limit=limit)
        return [row["id"] for row in rows]

    def _aggregates_query(self) -> str:
        """The ids of `$stream`'s aggregates after `$after`, at most `$limit`.

        Ordered as the version index is (stream first), so that Neo4j reads it in order
        from the first id after `$after` and stops at the limit. It has no skip scan: it
        reads every entry on the way, each event of the page's aggregates, keeping version 1.
        """
        return (
            f"MATCH (e:{self._event}) USING INDEX e:{self._event}(stream, aggregate_id, version) "
            "WHERE e.stream = $stream AND e.aggregate_id > $after AND e.version = 1 "
            "RETURN e.aggregate_id AS id ORDER BY e.stream, e.aggregate_id LIMIT $limit"
        )

    # -- snapshots and bookmarks -------------------------------------------------------------

    async def get_snapshot(self, stream: str, aggregate_id: str) -> SnapshotRecord | None:
        """The stored snapshot of one aggregate."""
        rows = await self._run(
            f"MATCH (s:{self._snapshot} {{stream: $stream, aggregate_id: $id}}) "
            "RETURN s.version AS version, s.key AS key, s.state AS state",
            stream=stream,
            id=aggregate_id,
        )
        if not rows:
            return None
        row = rows[0]
        return SnapshotRecord(
            stream, aggregate_id, row["version"], row["key"], jsontext.loads(row["state"])
        )

    async def put_snapshot(self, snapshot: SnapshotRecord) -> None:
        """Store `snapshot` unless a newer one under the same key is stored."""
        await self._run(
            f"MERGE (s:{self._snapshot} {{stream: $stream, aggregate_id: $id}}) "
            "WITH s WHERE s.key IS NULL OR s.key <> $key OR s.version <= $version "
            "SET s.version = $version, s.key = $key, s.state = $state",
            stream=snapshot.stream,
            id=snapshot.aggregate_id,
            version=snapshot.version,
            key=snapshot.key,
            state=jsontext.dumps(snapshot.state),
        )

    async def get_bookmark(self, name: str) -> int:
        """The position stored for `name`; 0 if none."""
        rows = await self._run(
            f"MATCH (b:{self._bookmark} {{name: $name}}) RETURN b.position AS position",
            name=name,
        )
        return int(rows[0]["position"]) if rows else 0

    async def _list_bookmarks(self) -> dict[str, int]:
        """Every bookmark stored: each node of the bookmark label."""
        rows = await self._run(
            f"MATCH (b:{self._bookmark}) RETURN b.name AS name, b.position AS position"
        )
        return {row["name"]: int(row["position"]) for row in rows}

    async def set_bookmark(self, name: str, position: int) -> None:
        """Store `position` for `name`."""
        await self._run(
            f"MERGE (b:{self._bookmark} {{name: $name}}) SET b.position = $position",
            name=name,
            position=position,
        )

    async def move_bookmark(self, name: str, expected: int, position: int) -> None:
        """Store `position` for `name` if `expected` is stored, else raise `BookmarkMoved`.

        The write locks the node before its position is read: two runners cannot
        both find it where they expect it. A move the driver tries again after a
        lost reply finds `position` stored, and returns.
        """
        try:
            rows = await self._run_briefly(
                f"MERGE (b:{self._bookmark} {{name: $name}}) "
                "ON CREATE SET b.position = 0, b.created = true "
                "SET b.locked = true REMOVE b.locked "
                "WITH b, CASE WHEN b.created THEN null ELSE b.position END AS found "
                "REMOVE b.created "
                "WITH b, found, coalesce(found, 0) = $expected AS ok "
                "SET b.position = CASE WHEN ok THEN $position ELSE b.position END "
                "RETURN found, ok OR found = $position AS ok",
                name=name,
                expected=expected,
                position=position,
            )
        except ConstraintError:  # another runner created the node at the same time
            raise BookmarkMoved(name, expected, None) from None
        if not rows[0]["ok"]:
            raise BookmarkMoved(name, expected, rows[0]["found"])

    async def park(self, handler: str, parked: ParkedAggregate) -> None:
        """Store `parked` for `handler`, replacing what was stored for that aggregate."""
        await self._run(
            f"MERGE (p:{self._parked} {{key: $key}}) SET p.handler = $handler, "
            "p.stream = $stream, p.aggregate_id = $id, p.version = $version, "
            "p.position = $position, p.error = $error, p.parked_at = $at",
            key=json.dumps([handler, parked.stream, parked.aggregate_id]),
            handler=handler,
            stream=parked.stream,
            id=parked.aggregate_id,
            version=parked.version,
            position=parked.position,
            error=parked.error,
            at=parked.parked_at.isoformat(),
        )

    async def parked(self, handler: str) -> list[ParkedAggregate]:
        """What `handler` parked, in the order of the failed events' positions."""
        rows = await self._run(
            f"MATCH (p:{self._parked} {{handler: $handler}}) RETURN p.stream AS stream, "
            "p.aggregate_id AS id, p.version AS version, p.position AS position, "
            "p.error AS error, p.parked_at AS at ORDER BY p.position",
            handler=handler,
        )
        return [
            ParkedAggregate(
                row["stream"],
                row["id"],
                int(row["version"]),
                int(row["position"]),
                row["error"],
                datetime.fromisoformat(row["at"]),
            )
            for row in rows
        ]

    async def unpark(self, handler: str, stream: str, aggregate_id: str) -> None:
        """Forget what `handler` parked of that aggregate."""
        await self._run(
            f"MATCH (p:{self._parked} {{key: $key}}) DELETE p",
            key=json.dumps([handler, stream, aggregate_id]),
        )

    async def beat(self, group: str, member: str, ttl: float) -> list[str]:
        """Keep `member` of `group` alive `ttl` seconds more; the live members, sorted.

        One transaction stores its expiry and reads the group (members whose time ran
        out are left out of the list). Only members whose time ran out `FORGET_AFTER_MS`
        ago are deleted, by a second transaction (one doing both would deadlock with
        another member's): a member's MERGE that found its node just before another's
        cleanup deleted it sets the deleted node, and its beat is lost, so a member
        beating again soon after its time ran out must not be deleted. Both are held as
        a lease's statements.
        """
        now, expires = expiry_millis(ttl)
        rows = await self._run_briefly(
            f"MERGE (m:{self._member} {{key: $key}}) "
            "SET m.group = $group, m.member = $member, m.expires = $expires "
            f"WITH DISTINCT true AS stored MATCH (o:{self._member} {{group: $group}}) "
            "RETURN o.member AS member, o.expires AS expires",
            key=json.dumps([group, member]),
            group=group,
            member=member,
            expires=expires,
        )
        live, _ = live_members(((r["member"], r["expires"]) for r in rows), member, now)
        forget = now - FORGET_AFTER_MS
        if any(r["expires"] < forget for r in rows):
            await self._run_briefly(
                f"MATCH (o:{self._member} {{group: $group}}) "
                "SET o.locked = true REMOVE o.locked WITH o WHERE o.expires < $forget DELETE o",
                group=group,
                forget=forget,
            )
        return live

    async def processed(self, inbox: str, key: str) -> bool:
        """Whether `inbox` recorded `key` (by the constraint's index)."""
        rows = await self._run(
            f"MATCH (p:{self._processed} {{inbox: $inbox, key: $key}}) RETURN count(p) AS n",
            inbox=inbox,
            key=key,
        )
        return bool(rows[0]["n"])

    async def mark_processed(self, inbox: str, key: str) -> None:
        """Record `key` for `inbox`: a MERGE, which the uniqueness constraint makes safe.

        Two at once may still meet the constraint, which then means it is recorded.
        """
        with contextlib.suppress(ConstraintError):
            await self._run(
                f"MERGE (p:{self._processed} {{inbox: $inbox, key: $key}}) "
                "ON CREATE SET p.processed_at = datetime()",
                inbox=inbox,
                key=key,
            )

    async def leave(self, group: str, member: str) -> None:
        """Forget `member` of `group`."""
        await self._run_briefly(
            f"MATCH (m:{self._member} {{key: $key}}) DELETE m", key=json.dumps([group, member])
        )

    async def _list_members(self, group: str) -> list[str]:
        """The live members of `group`, sorted (by the group's index)."""
        rows = await self._run(
            f"MATCH (o:{self._member} {{group: $group}}) "
            "RETURN o.member AS member, o.expires AS expires",
            group=group,
        )
        return unexpired(((r["member"], r["expires"]) for r in rows), expiry_millis(0)[0])

    def lease(self, name: str) -> Lease:
        """The lease of handler `name`: a node its runner renews (see `lease_ttl`)."""
        return ExpiringLease(
            _Neo4jLeases(self._run_briefly, self._lease),
            name,
            ttl=self.lease_ttl,
            outage=OUTAGE,
            action=f"take the lease of handler {name!r}",
        )

    async def _lease_holder(self, name: str) -> str | None:
        """The holder its node names (`"<host> pid <pid> <uuid>"`), unless it expired."""
        return await _Neo4jLeases(self._run, self._lease).holder(name)

    async def close(self) -> None:
        """Close the driver if this backend made it."""
        if self._owns_driver:
            await self.driver.close()


class _Neo4jLeases:
    """The lease nodes of one store (see `ExpiringLease`), timed by the server's clock.

    Each statement first writes the node, which locks it until the transaction ends,
    and only then reads its holder: two runners cannot both find it free.
    """

    def __init__(self, run: Callable[..., Awaitable[list[dict[str, Any]]]], label: str) -> None:
        self._run = run
        self._label = label

    async def take(self, name: str, holder: str, ttl: float) -> bool:
        """Hold `name` if its node is new, free, expired or `holder`'s already."""
        try:
            rows = await self._run(
                f"MERGE (l:{self._label} {{name: $name}}) SET l.locked = true REMOVE l.locked "
                "WITH l WHERE l.holder IS NULL OR l.holder = $holder OR l.expires < datetime() "
                "SET l.holder = $holder, l.expires = datetime() + duration({milliseconds: $ttl}) "
                "RETURN count(l) AS taken",
                name=name,
                holder=holder,
                ttl=round(ttl * 1000),
            )
        except ConstraintError:  # another runner created the node at the same time
            return False
        return bool(rows[0]["taken"])

    async def renew(self, name: str, holder: str, ttl: float) -> bool:
        """Push the expiry on if `holder` still holds `name`."""
        rows = await self._run(
            f"MATCH (l:{self._label} {{name: $name}}) SET l.locked = true REMOVE l.locked "
            "WITH l WHERE l.holder = $holder "
            "SET l.expires = datetime() + duration({milliseconds: $ttl}) "
            "RETURN count(l) AS held",
            name=name,
            holder=holder,
            ttl=round(ttl * 1000),
        )
        return bool(rows[0]["held"])

    async def holder(self, name: str) -> str | None:
        """Who holds `name`: the holder of its node, unless its time ran out (server's clock)."""
        rows = await self._run(
            f"MATCH (l:{self._label} {{name: $name}}) "
            "WHERE l.holder IS NOT NULL AND l.expires >= datetime() RETURN l.holder AS holder",
            name=name,
        )
        return str(rows[0]["holder"]) if rows else None

    async def free(self, name: str, holder: str) -> None:
        """Free `name` if `holder` holds it."""
        await self._run(
            f"MATCH (l:{self._label} {{name: $name}}) SET l.locked = true REMOVE l.locked "
            "WITH l WHERE l.holder = $holder SET l.holder = null, l.expires = null",
            name=name,
            holder=holder,
        )


def _action(query: str) -> str:
    """What a statement does, for an error message: its first words."""
    return "run " + " ".join(query.split()[:3]) + " ..."


def _properties(record: EventRecord, bucket_key: int) -> dict[str, Any]:
    """An event node's properties: the record's fields, its metadata already JSON text."""
    return {
        **msgspec.structs.asdict(record),
        "data": jsontext.dumps(record.data),
        "bucket_key": bucket_key,
    }


def _record(node: dict[str, Any]) -> EventRecord:
    stamp = node["timestamp"]
    if isinstance(stamp, DateTime):
        stamp = stamp.to_native()
    return EventRecord(
        node["stream"],
        node["aggregate_id"],
        node["version"],
        node["position"],
        stamp,
        node["type"],
        jsontext.load_payload(node["data"]),
        node.get("event_id"),
        node.get("event_version", 1),
        node.get("metadata"),
    )
