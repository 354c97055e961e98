"""An in-process backend: for tests, prototypes and single-process tools."""

from __future__ import annotations

import asyncio
import bisect
import threading
from collections.abc import Sequence

from .._errors import AlreadyProcessed, VersionConflict
from .base import (
    AppendListener,
    Backend,
    Bucket,
    EventRecord,
    Lease,
    LocalLease,
    NewEvent,
    Once,
    ParkedAggregate,
    SnapshotRecord,
    check_name,
    check_unmoved,
    expiry_millis,
    local_lease_holder,
    merged,
    numbered,
    unexpired,
)


class InMemoryBookmarks:
    """Bookmarks kept in this process only: a new instance starts every handler at 0."""

    def __init__(self) -> None:
        self._positions: dict[str, int] = {}
        self._parked: dict[tuple[str, str, str], ParkedAggregate] = {}
        self._members: dict[str, dict[str, int]] = {}
        """Each group's members, with when each one's time runs out (ms since the epoch)."""

    async def get_bookmark(self, name: str) -> int:
        """The position stored for `name`; 0 if none."""
        return self._positions.get(name, 0)

    async def set_bookmark(self, name: str, position: int) -> None:
        """Store `position` for `name`."""
        self._positions[name] = position

    async def bookmarks(self) -> dict[str, int]:
        """Every bookmark stored, name to position, in name order (by code point)."""
        return dict(sorted(self._positions.items()))

    async def move_bookmark(self, name: str, expected: int, position: int) -> None:
        """Store `position` for `name` if `expected` is stored, else raise `BookmarkMoved`."""
        found = self._positions.get(name)
        if found not in (expected, position):
            check_unmoved(name, expected, found)
        self._positions[name] = position

    async def park(self, handler: str, parked: ParkedAggregate) -> None:
        """Store `parked` for `handler`, replacing what was stored for that aggregate."""
        self._parked[handler, parked.stream, parked.aggregate_id] = parked

    async def parked(self, handler: str) -> list[ParkedAggregate]:
        """What `handler` parked, in the order of the failed events' positions."""
        found = [parked for key, parked in self._parked.items() if key[0] == handler]
        return sorted(found, key=lambda parked: parked.position)

    async def unpark(self, handler: str, stream: str, aggregate_id: str) -> None:
        """Forget what `handler` parked of that aggregate."""
        self._parked.pop((handler, stream, aggregate_id), None)

    async def beat(self, group: str, member: str, ttl: float) -> list[str]:
        """Keep `member` of `group` alive `ttl` seconds more; the live members, sorted."""
        now, expires = expiry_millis(ttl)
        members = self._members.setdefault(group, {})
        members[member] = expires
        for gone in [m for m, until in members.items() if until < now]:
            del members[gone]
        return sorted(members)

    async def leave(self, group: str, member: str) -> None:
        """Forget `member` of `group`."""
        self._members.get(group, {}).pop(member, None)

    async def members(self, group: str) -> list[str]:
        """The live members of `group` (whose time has not run out), sorted."""
        check_name("members", "group", group)
        now, _ = expiry_millis(0)
        return unexpired(self._members.get(group, {}).items(), now)

    def lease(self, name: str) -> Lease:
        """A lease excluding other runners of this process that use these bookmarks."""
        return LocalLease(self, name)

    async def lease_holder(self, name: str) -> str | None:
        """`process_label()` if a runner of this process holds `name`'s lease, else None."""
        check_name("lease_holder", "name", name)
        return local_lease_holder(self, name)


class _MemoryListener:
    def __init__(self, backend: InMemoryBackend, streams: Sequence[str]) -> None:
        self._backend = backend
        self.streams = frozenset(streams)
        self.flagged = False
        self._waiter: asyncio.Future[None] | None = None

    def notify(self) -> None:
        self.flagged = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.get_loop().call_soon_threadsafe(_resolve, waiter)

    async def wait(self, timeout: float) -> None:
        if not self.flagged:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(timeout):
                    await self._waiter
            except TimeoutError:
                pass
            finally:
                self._waiter = None
        self.flagged = False

    async def close(self) -> None:
        self._backend.forget(self)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class InMemoryBackend(Backend):
    """Keeps everything in memory, with the same concurrency checks as a database."""

    reads_ahead = False  # a read never waits: nothing to overlap with the fold

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0  # the last position taken
        self._by_stream: dict[str, list[EventRecord]] = {}
        self._by_aggregate: dict[tuple[str, str], list[EventRecord]] = {}
        self._ids: dict[str, list[str]] = {}
        """Each stream's aggregate ids: sorted up to `_sorted[stream]`, then as created."""
        self._sorted: dict[str, int] = {}
        self._snapshots: dict[tuple[str, str], SnapshotRecord] = {}
        self._bookmarks = InMemoryBookmarks()
        self._listeners: set[_MemoryListener] = set()
        self._processed: set[tuple[str, str]] = set()

    async def _append(
        self,
        stream: str,
        aggregate_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        *,
        once: Once | None = None,
    ) -> Sequence[EventRecord]:
        """Check the inbox's key and the version, take positions and store, under one lock."""
        with self._lock:
            if once is not None and once in self._processed:
                raise AlreadyProcessed(once.inbox, once.key)
            key = (stream, aggregate_id)
            history = self._by_aggregate.get(key)
            current = len(history) if history else 0
            if current != expected_version:
                raise VersionConflict(stream, aggregate_id, expected_version)
            records = numbered(stream, aggregate_id, current, self._last + 1, events)
            self._last += len(records)
            if history is None:
                history = self._by_aggregate[key] = []
                self._ids.setdefault(stream, []).append(aggregate_id)
            history.extend(records)
            self._by_stream.setdefault(stream, []).extend(records)
            if once is not None:
                self._processed.add(once)
            listeners = [x for x in self._listeners if stream in x.streams]
        for listener in listeners:
            listener.notify()
        return records

    async def processed(self, inbox: str, key: str) -> bool:
        """Whether `inbox` recorded `key`."""
        return (inbox, key) in self._processed

    async def mark_processed(self, inbox: str, key: str) -> None:
        """Record `key` for `inbox`."""
        with self._lock:
            self._processed.add(Once(inbox, key))

    async def read_aggregate(
        self,
        stream: str,
        aggregate_id: str,
        *,
        after_version: int = 0,
        limit: int = 1000,
        meta: bool = True,
    ) -> Sequence[EventRecord]:
        """Events of one aggregate after `after_version` (with their meta: it costs nothing)."""
        history = self._by_aggregate.get((stream, aggregate_id))
        if not history:
            return []
        return history[after_version : after_version + limit]

    async def _read_streams(
        self, streams: tuple[str, ...], after_position: int, limit: int, metadata: bool
    ) -> Sequence[EventRecord]:
        """Each stream's events after `after_position`, merged by position, always whole."""
        pages: list[list[EventRecord]] = []
        for stream in streams:
            records = self._by_stream.get(stream, [])
            start = bisect.bisect_right(records, after_position, key=_position)
            pages.append(records[start : start + limit])
        return merged(pages, limit)

    async def _read_bucket(
        self,
        streams: tuple[str, ...],
        after_position: int,
        limit: int,
        metadata: bool,
        bucket: Bucket,
    ) -> Sequence[EventRecord]:
        """`_read_streams` of the aggregates in `bucket`."""
        pages: list[list[EventRecord]] = []
        for stream in streams:
            records = self._by_stream.get(stream, [])
            start = bisect.bisect_right(records, after_position, key=_position)
            found: list[EventRecord] = []
            for record in records[start:]:
                if bucket.holds(record.aggregate_id):
                    found.append(record)
                    if len(found) == limit:
                        break
            pages.append(found)
        return merged(pages, limit)

    async def last_position(self, streams: Sequence[str]) -> int:
        """The highest position in `streams`; 0 if they are empty."""
        return max(
            (self._by_stream[s][-1].position for s in streams if self._by_stream.get(s)),
            default=0,
        )

    async def _list_streams(self) -> list[str]:
        """The streams appended to."""
        return [stream for stream, records in self._by_stream.items() if records]

    async def _list_aggregate_ids(self, stream: str, after: str, limit: int) -> list[str]:
        """A slice of the stream's sorted ids (sorted again only after new aggregates).

        The sort is Python's, which merges the ids created since the last listing into
        those sorted before: linear in the stream's aggregates, once per listing after
        new ones.
        """
        with self._lock:
            ids = self._ids.get(stream, [])
            if self._sorted.get(stream, 0) < len(ids):
                ids.sort()
                self._sorted[stream] = len(ids)
            start = bisect.bisect_right(ids, after)
            return ids[start : start + limit]

    async def get_snapshot(self, stream: str, aggregate_id: str) -> SnapshotRecord | None:
        """The stored snapshot of one aggregate."""
        return self._snapshots.get((stream, aggregate_id))

    async def put_snapshot(self, snapshot: SnapshotRecord) -> None:
        """Store `snapshot` unless a newer one under the same key is stored."""
        key = (snapshot.stream, snapshot.aggregate_id)
        with self._lock:
            old = self._snapshots.get(key)
            if old is None or old.key != snapshot.key or old.version <= snapshot.version:
                self._snapshots[key] = snapshot

    async def get_bookmark(self, name: str) -> int:
        """The position stored for `name`; 0 if none."""
        return await self._bookmarks.get_bookmark(name)

    async def set_bookmark(self, name: str, position: int) -> None:
        """Store `position` for `name`."""
        await self._bookmarks.set_bookmark(name, position)

    async def _list_bookmarks(self) -> dict[str, int]:
        """Every bookmark stored."""
        return await self._bookmarks.bookmarks()

    async def move_bookmark(self, name: str, expected: int, position: int) -> None:
        """Store `position` for `name` if `expected` is stored, else raise `BookmarkMoved`."""
        await self._bookmarks.move_bookmark(name, expected, position)

    async def park(self, handler: str, parked: ParkedAggregate) -> None:
        """Store `parked` for `handler`, replacing what was stored for that aggregate."""
        await self._bookmarks.park(handler, parked)

    async def parked(self, handler: str) -> list[ParkedAggregate]:
        """What `handler` parked, in the order of the failed events' positions."""
        return await self._bookmarks.parked(handler)

    async def unpark(self, handler: str, stream: str, aggregate_id: str) -> None:
        """Forget what `handler` parked of that aggregate."""
        await self._bookmarks.unpark(handler, stream, aggregate_id)

    async def beat(self, group: str, member: str, ttl: float) -> list[str]:
        """Keep `member` of `group` alive `ttl` seconds more; the live members, sorted."""
        return await self._bookmarks.beat(group, member, ttl)

    async def leave(self, group: str, member: str) -> None:
        """Forget `member` of `group`."""
        await self._bookmarks.leave(group, member)

    async def _list_members(self, group: str) -> list[str]:
        """The live members of `group`, sorted."""
        return await self._bookmarks.members(group)

    def forget(self, listener: _MemoryListener) -> None:
        """Stop notifying `listener`."""
        self._listeners.discard(listener)

    async def listen(self, streams: Sequence[str]) -> AppendListener:
        """A listener woken by every append to `streams`."""
        listener = _MemoryListener(self, streams)
        self._listeners.add(listener)
        return listener


def _position(record: EventRecord) -> int:
    return record.position
