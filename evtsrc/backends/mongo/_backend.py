"""`MongoBackend`: appends in transactions that take positions from one counter document."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import attrs
import pymongo
from bson.errors import InvalidDocument
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, ReturnDocument, UpdateMany
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.cursor import AsyncCursor
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    BulkWriteError,
    DuplicateKeyError,
    OperationFailure,
)

from ..._errors import AlreadyProcessed, BookmarkMoved, EventEncodeError, VersionConflict
from .._support.buckets import KeyedPage, read_bucket
from .._support.expiring import ExpiringLease
from .._support.layouts import mongo_collections, mongo_indexes
from ..base import (
    AppendListener,
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
    live_members,
    merged,
    numbered,
    unexpired,
)
from ..names import TableNames
from ..sql._buckets import FILL_BATCH, fill_values
from ._documents import Document, document, millis, record, snapshot_id
from ._errors import OUTAGE
from ._leases import MongoLeases
from ._listen import ChangeListener

DUPLICATE_KEY = 11000
WINDOW = 1000
"""How many positions one read of a stream ranges over (more when the page asked for is larger)."""


class MongoBackend(Backend):
    """A `Backend` on a MongoDB database (collections named from `TableNames`).

    An unreachable server or a lost connection raises `StoreUnavailable`.
    `transaction_timeout` bounds an append, retries of its transaction included
    (pymongo's own limit is 120 s); `connect()` also bounds the wait for a server
    (`serverSelectionTimeoutMS`) and for a pooled connection (`waitQueueTimeoutMS`).
    A handler's lease is a document that lasts `lease_ttl` seconds unless its runner
    renews it: a runner that dies hands over to a standby within that time.
    """

    def __init__(
        self,
        client: AsyncMongoClient[Document],
        database: str,
        *,
        collections: TableNames | None = None,
        owns_client: bool = False,
        transaction_timeout: float = 30.0,
        lease_ttl: float = 10.0,
    ) -> None:
        self.client = client
        self.names = collections or TableNames()
        self.database: AsyncDatabase[Document] = client[database]
        self.events: AsyncCollection[Document] = self.database[self.names.events]
        self.snapshots: AsyncCollection[Document] = self.database[self.names.snapshots]
        self.handler_bookmarks: AsyncCollection[Document] = self.database[self.names.bookmarks]
        self.counters: AsyncCollection[Document] = self.database[f"{self.names.prefix}counters"]
        self.leases: AsyncCollection[Document] = self.database[f"{self.names.prefix}leases"]
        self.parked_aggregates: AsyncCollection[Document] = self.database[self.names.parked]
        self.group_members: AsyncCollection[Document] = self.database[self.names.members]
        """Handler groups' members: not `members`, the method that lists a group's."""
        self.processed_messages: AsyncCollection[Document] = self.database[self.names.processed]
        self._owns_client = owns_client
        self.transaction_timeout = transaction_timeout
        """Seconds an append may take, its transaction's retries included."""
        if not lease_ttl > 0:
            raise ValueError(f"lease_ttl must be more than 0 seconds, not {lease_ttl!r}")
        self.lease_ttl = lease_ttl
        """Seconds a handler's lease lasts unless its runner renews it."""

    @classmethod
    def connect(
        cls,
        uri: str,
        database: str = "evtsrc",
        *,
        collections: TableNames | None = None,
        server_selection_timeout: float = 10.0,
        wait_queue_timeout: float = 10.0,
        transaction_timeout: float = 30.0,
        lease_ttl: float = 10.0,
    ) -> MongoBackend:
        """A backend on a new client for `uri`; `close()` closes the client.

        `server_selection_timeout` (pymongo's `serverSelectionTimeoutMS`, default
        30 s, here 10 s) bounds the wait for a reachable server and
        `wait_queue_timeout` (`waitQueueTimeoutMS`, unbounded in pymongo, here
        10 s) the wait for a free pooled connection; options in `uri` win.
        """
        client: AsyncMongoClient[Document] = AsyncMongoClient(
            uri,
            tz_aware=True,
            serverSelectionTimeoutMS=round(server_selection_timeout * 1000),
            waitQueueTimeoutMS=round(wait_queue_timeout * 1000),
        )
        return cls(
            client,
            database,
            collections=collections,
            owns_client=True,
            transaction_timeout=transaction_timeout,
            lease_ttl=lease_ttl,
        )

    async def create_schema(self) -> None:
        """Create the collections and indexes that do not exist yet; fill in bucket keys.

        The events stored before bucket keys get theirs (see `_fill_bucket_keys`).
        """
        with OUTAGE.during("create the schema"):
            existing = set(await self.database.list_collection_names())
            for collection in self._collections():
                if collection.name not in existing:
                    with contextlib.suppress(OperationFailure):  # created meanwhile
                        await self.database.create_collection(collection.name)
            for index in mongo_indexes(self.names):
                await self.database[index.collection].create_index(
                    [(key, ASCENDING) for key in index.keys], unique=index.unique, name=index.name
                )
        with OUTAGE.during("fill in bucket keys"):
            await self._fill_bucket_keys()

    async def _fill_bucket_keys(self) -> None:
        """Add `bucket_key` to the event documents stored without it, as the SQL stores do.

        Down from the newest document without one, `sql._buckets.FILL_BATCH` at a time:
        each batch is one bulk write, an update of each aggregate it found from its lowest
        position on (by the version index). So documents without a key are all below
        those with one, and if neither the oldest nor the newest lacks it (two looks at
        the position index), none does: that is all a filled store costs.
        """
        by_position = f"{self.names.events}_position_uq"  # named: some servers would scan
        ends = [
            await self.events.find_one(
                {}, {"_id": 0, "bucket_key": 1}, sort=[("position", way)], hint=by_position
            )
            for way in (ASCENDING, DESCENDING)
        ]
        if all(end is None or end.get("bucket_key") is not None for end in ends):
            return
        unkeyed: Document = {"bucket_key": None}  # missing (or null)
        while True:
            found = await (
                self.events.find(unkeyed, {"_id": 0, "position": 1, "stream": 1, "aggregate_id": 1})
                .sort("position", DESCENDING)
                .limit(FILL_BATCH)
                .hint(by_position)
                .to_list(None)
            )
            if found:
                rows = [(d["position"], d["stream"], d["aggregate_id"]) for d in found]
                updates = [
                    UpdateMany(
                        {
                            "stream": stream,
                            "aggregate_id": aggregate_id,
                            "position": {"$gte": low},
                            "bucket_key": None,
                        },
                        {"$set": {"bucket_key": key}},
                        hint=self.names.version_constraint,
                    )
                    for key, stream, aggregate_id, low in fill_values(rows)
                ]
                await self.events.bulk_write(updates, ordered=False)
            if len(found) < FILL_BATCH:
                return
            unkeyed = {"bucket_key": None, "position": {"$lt": found[-1]["position"]}}

    def _collections(self) -> tuple[AsyncCollection[Document], ...]:
        return tuple(self.database[name] for name in mongo_collections(self.names))

    async def drop_schema(self) -> None:
        """Drop the collections (and every event in them)."""
        with OUTAGE.during("drop the schema"):
            for collection in self._collections():
                await collection.drop()

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
        """Append in one transaction, which `with_transaction` retries on a write conflict.

        With `once`, the transaction first inserts its key's document (see `_record_once`).
        """
        # BSON dates keep milliseconds: store and return the same instant.
        stamped = [attrs.evolve(e, timestamp=millis(e.timestamp)) for e in events]

        async def write(session: AsyncClientSession) -> list[EventRecord]:
            if once is not None:
                await self._record_once(session, once)
            return await self._write(session, stream, aggregate_id, expected_version, stamped)

        try:
            with OUTAGE.appending(stream, aggregate_id) as sending:
                sending.sent()  # whether it was committed is told by the error's labels
                with pymongo.timeout(self.transaction_timeout):
                    async with self.client.start_session() as session:
                        return await session.with_transaction(write)
        except (InvalidDocument, OverflowError) as error:
            raise EventEncodeError(f"MongoDB cannot store this event: {error}") from error

    async def _record_once(self, session: AsyncClientSession, once: Once) -> None:
        """Insert `once`'s key in the append's transaction; `AlreadyProcessed` if it is stored.

        Only this insert's duplicate key becomes `AlreadyProcessed` (the unique index on
        (inbox, key) is the collection's only one besides `_id`), never a version clash.
        An append with the same key in a transaction still open meets a write conflict
        instead, which `with_transaction` retries: once that one commits, the retry finds
        the key; if it aborts, the retry stores. `AlreadyProcessed` is not a driver
        error, so it ends the transaction (aborted: nothing stored) and is not retried.
        """
        try:
            await self.processed_messages.insert_one(
                _processed_document(once.inbox, once.key), session=session
            )
        except DuplicateKeyError:
            raise AlreadyProcessed(once.inbox, once.key) from None

    async def _write(
        self,
        session: AsyncClientSession,
        stream: str,
        aggregate_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
    ) -> list[EventRecord]:
        """The body of an append's transaction: check, take positions, insert; not committed."""
        if expected_version > 0:
            found = await self.events.find_one(
                {"stream": stream, "aggregate_id": aggregate_id, "version": expected_version},
                {"_id": 1},
                session=session,
            )
            if found is None:
                raise VersionConflict(stream, aggregate_id, expected_version)
        counter = await self.counters.find_one_and_update(
            {"_id": self.names.events},
            {"$inc": {"position": len(events)}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
            session=session,
        )
        assert counter is not None
        first = int(counter["position"]) - len(events) + 1
        records = numbered(stream, aggregate_id, expected_version, first, events)
        key = bucket_key(aggregate_id)
        await self.events.insert_many([document(r, key) for r in records], session=session)
        return records

    def _is_version_clash(self, error: Exception) -> bool:
        """Whether `error` is a duplicate key on the version index, and only that."""
        if not isinstance(error, (DuplicateKeyError, BulkWriteError)):
            return False
        details: Mapping[str, Any] = error.details or {}
        failures = details.get("writeErrors") if isinstance(error, BulkWriteError) else [details]
        if not failures:
            return False
        first: Mapping[str, Any] = failures[0]
        if first.get("code") != DUPLICATE_KEY:
            return False
        pattern: object = first.get("keyPattern")
        if isinstance(pattern, dict):
            return list(cast("dict[str, object]", pattern)) == ["stream", "aggregate_id", "version"]
        return f"index: {self.names.version_constraint} " in str(first.get("errmsg", ""))

    def _aggregate_page(
        self, stream: str, aggregate_id: str, after_version: int, limit: int
    ) -> AsyncCursor[Document]:
        window = {"$gt": after_version, "$lte": after_version + limit}
        query = {"stream": stream, "aggregate_id": aggregate_id, "version": window}
        return self.events.find(query).sort("version", ASCENDING)

    def _stream_window(
        self, stream: str, start: int, end: int, limit: int, bucket: Bucket | None = None
    ) -> AsyncCursor[Document]:
        query: Document = {"stream": stream, "position": {"$gt": start, "$lte": end}}
        if bucket is None:
            return self.events.find(query).sort("position", ASCENDING).limit(limit)
        # Its events, and those without a key (`_support.buckets`), filtered as the
        # (stream, position) index is read: named, since some servers would scan.
        query["$or"] = [
            {"bucket_key": {"$mod": [bucket.count, bucket.index]}},
            {"bucket_key": None},
        ]
        found = self.events.find(query).sort("position", ASCENDING).limit(limit)
        return found.hint(f"{self.names.events}_stream_ix")

    def _streams_after(self, after: str | None) -> AsyncCursor[Document]:
        """The first stream after `after` (None: the first of all), from the stream index."""
        query: Document = {} if after is None else {"stream": {"$gt": after}}
        found = self.events.find(query, {"_id": 0, "stream": 1}).sort("stream", ASCENDING)
        return found.limit(1).hint(f"{self.names.events}_stream_ix")

    def _aggregates_after(self, stream: str, after: str, limit: int) -> AsyncCursor[Document]:
        """The first events (version 1) of `stream`'s aggregates after `after`, by id.

        The bounds on the version index are one stream, the ids after `after` and version
        1: MongoDB seeks from each aggregate's first event to the next one's, past the
        others, and reads only the index (the query is covered).
        """
        query = {"stream": stream, "aggregate_id": {"$gt": after}, "version": 1}
        found = self.events.find(query, {"_id": 0, "aggregate_id": 1})
        found = found.sort([("stream", ASCENDING), ("aggregate_id", ASCENDING)]).limit(limit)
        return found.hint(self.names.version_constraint)

    async def query_plans(self, stream: str, aggregate_id: str) -> dict[str, Document]:
        """The server's `explain` of each query handlers and loads run, by name.

        For checking a deployment: each plan should scan an index
        (`IXSCAN`), never the collection.
        """
        with OUTAGE.during("explain the queries"):
            top = await self._committed()
            cursors = {
                "read_aggregate": self._aggregate_page(stream, aggregate_id, 0, 1000),
                "read_streams": self._stream_window(stream, 0, max(top, 1), 1000),
                "read_bucket": self._stream_window(stream, 0, max(top, 1), 1000, Bucket(0, 2)),
                "list_streams": self._streams_after(stream),
                "list_aggregates": self._aggregates_after(stream, "", 100),
            }
            plans = {name: await cursor.explain() for name, cursor in cursors.items()}
            plans["get_bookmark"] = await self.handler_bookmarks.find({"_id": "x"}).explain()
            plans["parked"] = await self._parked_of("x").explain()
            plans["beat"] = await self._members_of("x").explain()
            plans["processed"] = await self.processed_messages.find(
                {"inbox": "x", "key": "y"}, {"_id": 1}
            ).explain()
            plans["get_snapshot"] = await self.snapshots.find(
                {"_id": snapshot_id(stream, aggregate_id)}
            ).explain()
            return plans

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
        with OUTAGE.during("read an aggregate"):
            cursor = self._aggregate_page(stream, aggregate_id, after_version, limit)
            return [record(d) async for d in cursor]

    async def _committed(self) -> int:
        counter = await self.counters.find_one({"_id": self.names.events})
        return int(counter["position"]) if counter else 0

    async def _read_streams(
        self, streams: tuple[str, ...], after_position: int, limit: int, metadata: bool
    ) -> Sequence[EventRecord]:
        """Events of `streams` after `after_position`, by position, always with ids and metadata.

        Reads each stream in windows of positions and merges them, so that every
        query ranges over the (stream, position) index between two bounds.
        """
        with OUTAGE.during("read streams"):
            top = await self._committed()
            found: list[EventRecord] = []
            start = after_position
            while start < top and len(found) < limit:
                end = min(top, start + max(limit, WINDOW))
                pages = [
                    [record(d) async for d in self._stream_window(stream, start, end, limit)]
                    for stream in streams
                ]
                found.extend(merged(pages, limit - len(found)))
                start = end
            return found

    async def _read_bucket(
        self,
        streams: tuple[str, ...],
        after_position: int,
        limit: int,
        metadata: bool,
        bucket: Bucket,
    ) -> Sequence[EventRecord]:
        """`_read_streams` of `bucket` only.

        The same windows of each stream's (stream, position) index, the bucket filtered
        there (`$mod` of the stored key).
        """

        async def read(after: int, wanted: int) -> KeyedPage:
            top = await self._committed()
            found: list[EventRecord] = []
            keys: dict[int, int | None] = {}
            start = after
            while start < top and len(found) < wanted:
                end = min(top, start + max(wanted, WINDOW))
                pages = [
                    [
                        _keyed(d, keys)
                        async for d in self._stream_window(stream, start, end, wanted, bucket)
                    ]
                    for stream in streams
                ]
                found.extend(merged(pages, wanted - len(found)))
                start = end
            return found, [keys[r.position] for r in found]

        with OUTAGE.during("read streams"):
            return await read_bucket(read, after_position, limit, bucket)

    async def last_position(self, streams: Sequence[str]) -> int:
        """The highest position of `streams`; 0 if they are empty."""
        with OUTAGE.during("read the last position"):
            end = await self._committed()
            while end > 0:
                start = max(0, end - WINDOW)
                best = 0
                for stream in streams:
                    window = {"$gt": start, "$lte": end}
                    cursor = (
                        self.events.find({"stream": stream, "position": window})
                        .sort("position", DESCENDING)
                        .limit(1)
                    )
                    async for document in cursor:
                        best = max(best, int(document["position"]))
                if best:
                    return best
                end = start
            return 0

    async def _list_streams(self) -> list[str]:
        """The streams: one look at the (stream, position) index for each, then one more."""
        found: list[str] = []
        with OUTAGE.during("list streams"):
            while True:
                after = found[-1] if found else None
                page = [d["stream"] async for d in self._streams_after(after)]
                if not page:
                    return found
                found += page

    async def _list_aggregate_ids(self, stream: str, after: str, limit: int) -> list[str]:
        """The ids, from the version index's first entry of each aggregate (`_aggregates_after`)."""

        async def read(after: str | None, wanted: int) -> list[str]:
            assert after is not None
            return [d["aggregate_id"] async for d in self._aggregates_after(stream, after, wanted)]

        with OUTAGE.during(f"list the aggregates of {stream}"):
            return await listed(read, after, limit)

    # -- snapshots and bookmarks -------------------------------------------------------------

    async def get_snapshot(self, stream: str, aggregate_id: str) -> SnapshotRecord | None:
        """The stored snapshot of one aggregate."""
        with OUTAGE.during("read a snapshot"):
            document = await self.snapshots.find_one({"_id": snapshot_id(stream, aggregate_id)})
            if document is None:
                return None
            return SnapshotRecord(
                stream, aggregate_id, int(document["version"]), document["key"], document["state"]
            )

    async def put_snapshot(self, snapshot: SnapshotRecord) -> None:
        """Store `snapshot` unless a newer one under the same key is stored."""
        with OUTAGE.during("store a snapshot"):
            key = snapshot_id(snapshot.stream, snapshot.aggregate_id)
            with contextlib.suppress(DuplicateKeyError):  # a newer one under this key is stored
                await self.snapshots.update_one(
                    {
                        "_id": key,
                        "$or": [
                            {"key": {"$ne": snapshot.key}},
                            {"version": {"$lte": snapshot.version}},
                        ],
                    },
                    {
                        "$set": {
                            "version": snapshot.version,
                            "key": snapshot.key,
                            "state": snapshot.state,
                        }
                    },
                    upsert=True,
                )

    async def get_bookmark(self, name: str) -> int:
        """The position stored for `name`; 0 if none."""
        with OUTAGE.during("read a bookmark"):
            document = await self.handler_bookmarks.find_one({"_id": name})
            return int(document["position"]) if document else 0

    async def _list_bookmarks(self) -> dict[str, int]:
        """Every bookmark stored: the whole bookmarks collection."""
        with OUTAGE.during("list bookmarks"):
            cursor = self.handler_bookmarks.find({}, {"position": 1})
            return {d["_id"]: int(d["position"]) async for d in cursor}

    async def set_bookmark(self, name: str, position: int) -> None:
        """Store `position` for `name`."""
        with OUTAGE.during("store a bookmark"):
            await self.handler_bookmarks.update_one(
                {"_id": name}, {"$set": {"position": position}}, upsert=True
            )

    async def move_bookmark(self, name: str, expected: int, position: int) -> None:
        """Store `position` for `name` if `expected` is stored, else raise `BookmarkMoved`."""
        with OUTAGE.during("move a bookmark"):
            moved = await self.handler_bookmarks.update_one(
                {"_id": name, "position": expected}, {"$set": {"position": position}}
            )
            if moved.matched_count:
                return
            document = await self.handler_bookmarks.find_one({"_id": name})
            found = int(document["position"]) if document else None
            if found == position:
                return
            check_unmoved(name, expected, found)
            try:
                await self.handler_bookmarks.insert_one({"_id": name, "position": position})
            except DuplicateKeyError:  # another runner stored it first
                raise BookmarkMoved(name, expected, None) from None

    async def park(self, handler: str, parked: ParkedAggregate) -> None:
        """Store `parked` for `handler`, replacing what was stored for that aggregate."""
        with OUTAGE.during("park an aggregate"):
            await self.parked_aggregates.replace_one(
                {"_id": _parked_id(handler, parked.stream, parked.aggregate_id)},
                {
                    "handler": handler,
                    "stream": parked.stream,
                    "aggregate_id": parked.aggregate_id,
                    "version": parked.version,
                    "position": parked.position,
                    "error": parked.error,
                    "parked_at": parked.parked_at.isoformat(),
                },
                upsert=True,
            )

    async def parked(self, handler: str) -> list[ParkedAggregate]:
        """What `handler` parked, in the order of the failed events' positions."""
        with OUTAGE.during("read parked aggregates"):
            found = await self._parked_of(handler).to_list(None)
        return [
            ParkedAggregate(
                d["stream"],
                d["aggregate_id"],
                int(d["version"]),
                int(d["position"]),
                d["error"],
                datetime.fromisoformat(d["parked_at"]),
            )
            for d in found
        ]

    def _parked_of(self, handler: str) -> AsyncCursor[Document]:
        return self.parked_aggregates.find({"handler": handler}).sort("position", ASCENDING)

    async def unpark(self, handler: str, stream: str, aggregate_id: str) -> None:
        """Forget what `handler` parked of that aggregate."""
        with OUTAGE.during("unpark an aggregate"):
            await self.parked_aggregates.delete_one(
                {"_id": _parked_id(handler, stream, aggregate_id)}
            )

    async def beat(self, group: str, member: str, ttl: float) -> list[str]:
        """Keep `member` of `group` alive `ttl` seconds more; the live members, sorted.

        Stores its expiry, then reads the group; only if some member's time ran out,
        forgets them.
        """
        now, expires = expiry_millis(ttl)
        with OUTAGE.during(f"beat in group {group!r}"):
            await self.group_members.update_one(
                {"_id": _member_id(group, member)},
                {"$set": {"group": group, "member": member, "expires": expires}},
                upsert=True,
            )
            found = await self._members_of(group).to_list(None)
            live, expired = live_members(((d["member"], d["expires"]) for d in found), member, now)
            if expired:
                await self.group_members.delete_many({"group": group, "expires": {"$lt": now}})
        return live

    def _members_of(self, group: str) -> AsyncCursor[Document]:
        return self.group_members.find({"group": group}, {"_id": 0, "member": 1, "expires": 1})

    async def _list_members(self, group: str) -> list[str]:
        """The live members of `group`, sorted."""
        with OUTAGE.during(f"list the members of group {group!r}"):
            found = await self._members_of(group).to_list(None)
        return unexpired(((d["member"], d["expires"]) for d in found), expiry_millis(0)[0])

    async def processed(self, inbox: str, key: str) -> bool:
        """Whether `inbox` recorded `key` (by its unique index)."""
        with OUTAGE.during(f"read inbox {inbox!r}"):
            found = await self.processed_messages.find_one({"inbox": inbox, "key": key}, {"_id": 1})
        return found is not None

    async def mark_processed(self, inbox: str, key: str) -> None:
        """Record `key` for `inbox`: an insert, whose duplicate key means it is recorded."""
        with (
            OUTAGE.during(f"record a message of inbox {inbox!r}"),
            contextlib.suppress(DuplicateKeyError),
        ):
            await self.processed_messages.insert_one(_processed_document(inbox, key))

    async def leave(self, group: str, member: str) -> None:
        """Forget `member` of `group`."""
        with OUTAGE.during(f"leave group {group!r}"):
            await self.group_members.delete_one({"_id": _member_id(group, member)})

    def lease(self, name: str) -> Lease:
        """The lease of handler `name`: a document its runner renews (see `lease_ttl`)."""
        return ExpiringLease(
            MongoLeases(self.leases),
            name,
            ttl=self.lease_ttl,
            outage=OUTAGE,
            action=f"take the lease of handler {name!r}",
        )

    async def _lease_holder(self, name: str) -> str | None:
        """The holder its document names (`"<host> pid <pid> <uuid>"`), unless it expired."""
        with OUTAGE.during(f"find who holds the lease of handler {name!r}"):
            return await MongoLeases(self.leases).holder(name)

    async def listen(self, streams: Sequence[str]) -> AppendListener:
        """A change stream on the events collection, woken by inserts into `streams`."""
        listener = ChangeListener(self.events, streams)
        await listener.start_retrying(patience=5)
        return listener

    async def close(self) -> None:
        """Close the client if this backend made it."""
        if self._owns_client:
            await self.client.close()


def _keyed(document: Document, keys: dict[int, int | None]) -> EventRecord:
    """The record of `document`, its bucket key put in `keys` by position."""
    found = record(document)
    keys[found.position] = document.get("bucket_key")
    return found


def _parked_id(handler: str, stream: str, aggregate_id: str) -> str:
    """A parked aggregate's document id: the three names as a JSON array, unambiguous."""
    return json.dumps([handler, stream, aggregate_id])


def _processed_document(inbox: str, key: str) -> Document:
    """A processed message's document, with when it was recorded (a BSON date)."""
    return {"inbox": inbox, "key": key, "processed_at": millis(datetime.now(UTC))}


def _member_id(group: str, member: str) -> str:
    """A group member's document id: the two names as a JSON array, unambiguous."""
    return json.dumps([group, member])
