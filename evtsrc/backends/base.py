"""The contract every storage backend fulfils.

A backend stores events as JSON objects with their meta; it knows nothing of
event classes or aggregates. The domain layer encodes and decodes.

Contract (checked by the conformance suite shipped as
`evtsrc.testing.backend_contract`, which evtsrc runs against each of its backends):

* `append` writes all given events of one aggregate atomically, or none. It
  first checks that the aggregate's current version equals `expected_version`
  and raises `VersionConflict` when it does not, including when
  a concurrent writer won the race. Only that situation raises VersionConflict;
  every other failure reaches the caller as itself.
* Versions of one aggregate are consecutive from 1. Positions are unique
  across the whole store and a reader of `read_streams` never sees a
  position after a higher one was returned to it: a backend whose writers may
  commit out of position order must hold readers back until the gap is
  resolved, so that handlers never skip an event.
* Timestamps are timezone-aware UTC datetimes.
* Each event keeps the `event_id`, `event_version` and `metadata` it was appended
  with. Events stored before a store had them read back with `event_id` None,
  `event_version` 1 and `metadata` None.
* `get_bookmark` of a name never set returns 0.
* `bookmarks()` lists every bookmark stored, `streams()` the streams holding an event
  and `aggregate_ids(stream)` a stream's aggregates, page by page: each sorted by code
  point (Python's order of `str`) on every backend.
* `lease_holder(name)` says who holds the lease of `name` now, or None when no runner
  does: the host and process of the holder (`process_label()`) as far as the store can
  know them. A store that keeps groups' members lists a group's live ones, sorted, with
  `members(group)`. Names are strings without NUL or lone surrogates (`TypeError` or
  `ValueError` otherwise, on every backend).
"""

from __future__ import annotations

import abc
import asyncio
import bisect
import heapq
import inspect
import itertools
import math
import os
import random
import socket
import time
import weakref
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol, Self, TypeVar, cast, runtime_checkable

import attrs
import msgspec

from .._errors import AlreadyProcessed, BookmarkMoved, VersionConflict
from .._jsontypes import JSONObject
from .._storable import text_problem

C_co = TypeVar("C_co", covariant=True)


_random_bits = random.getrandbits
_NOT_VERSION_OR_VARIANT = ~((0xF << 76) | (0xC << 60))
_VERSION_4_VARIANT_1 = (0x4 << 76) | (0x8 << 60)


def new_event_id() -> str:
    """A new event id: a random (version 4) UUID, as text.

    Ids must be unique, not secret: the bits come from `random`, which is seeded from
    the operating system in each process (and again in a forked child), at a quarter
    of `uuid.uuid4()`'s cost, which asks the system for 16 bytes each time.
    """
    h = f"{_random_bits(128) & _NOT_VERSION_OR_VARIANT | _VERSION_4_VARIANT_1:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


MAX_HOST_LABEL = 64
"""The most characters of the host name a process label keeps."""

_label: tuple[int, str] = (0, "")
"""The pid the label was made in, and the label."""


def process_label() -> str:
    """The running process as lease holders and group members name it: `"<host> pid <pid>"`.

    Made again in a forked child, whose pid differs. The host name is cut to
    `MAX_HOST_LABEL` characters, so that the label fits where stores keep it.
    """
    global _label
    pid = os.getpid()
    made_in, label = _label
    if made_in != pid:
        host = socket.gethostname()[:MAX_HOST_LABEL] or "localhost"
        label = f"{host} pid {pid}"
        _label = (pid, label)
    return label


@attrs.frozen(slots=True)
class NewEvent:
    """An event to append: its type name, its JSON payload and its timestamp.

    `event_id` identifies it across stores and messages; `event_version` is the
    version of its class that wrote `data`; `metadata` is a JSON object of context
    (correlation and causation ids, the user's own keys).
    """

    type: str
    data: JSONObject
    timestamp: datetime
    event_id: str = attrs.field(factory=new_event_id)
    event_version: int = 1
    metadata: JSONObject = attrs.field(factory=lambda: {})


@attrs.frozen(slots=True)
class UndecodablePayload:
    """A stored payload the backend could not parse: the stored value and the error.

    A backend never raises a parse error while reading a page of events: it puts
    this in the record's `data` instead, and decoding that record raises
    `EventDecodeError` naming it (`error` is its `__cause__`). So a repository
    reports which event is unreadable, and a handler gets the events before it
    and then stops at it, or reports it to `on_error`.
    """

    stored: object
    error: Exception


NOT_READ = datetime(1970, 1, 1, tzinfo=UTC)
"""The timestamp of a record read with `meta=False`, where the backend left it out."""


class EventRecord(msgspec.Struct, frozen=True, gc=False):
    """An event as stored: payload and meta.

    `data` is the JSON object stored, or an `UndecodablePayload` for one that
    could not be parsed. `metadata` is the stored metadata object, or its JSON
    text where a backend reads text (it is parsed only if asked for). An event
    stored before its store kept ids and metadata has `event_id` None,
    `event_version` 1 and `metadata` None. A frozen msgspec struct: loads and
    catch-ups build one per stored event, and it is built in one C call and not
    tracked by the garbage collector (it never holds anything that refers back to it).
    """

    stream: str
    aggregate_id: str
    version: int
    position: int
    timestamp: datetime
    type: str
    data: JSONObject | UndecodablePayload
    event_id: str | None = None
    event_version: int = 1
    metadata: JSONObject | str | None = None


def merged(pages: Sequence[Sequence[EventRecord]], limit: int) -> Sequence[EventRecord]:
    """The first `limit` records of `pages`, each already in position order, by position."""
    if len(pages) == 1:
        page = pages[0]
        return page if len(page) <= limit else page[:limit]
    return list(itertools.islice(heapq.merge(*pages, key=_position), limit))


def _position(record: EventRecord) -> int:
    return record.position


def numbered(
    stream: str,
    aggregate_id: str,
    expected_version: int,
    first_position: int,
    events: Sequence[NewEvent],
    metadata: Sequence[str] | None = None,
) -> list[EventRecord]:
    """`events` as stored after `expected_version`, at positions from `first_position` on.

    A backend that stores metadata as JSON text passes the texts it wrote as `metadata`,
    so that the records it returns are those it reads back.
    """
    stored: Sequence[JSONObject | str] = (
        [event.metadata for event in events] if metadata is None else metadata
    )
    return [
        EventRecord(
            stream,
            aggregate_id,
            expected_version + i,
            first_position + i - 1,
            event.timestamp,
            event.type,
            event.data,
            event.event_id,
            event.event_version,
            meta,
        )
        for (i, event), meta in zip(enumerate(events, start=1), stored, strict=True)
    ]


def bucket_key(aggregate_id: str) -> int:
    """The key that places an aggregate in a bucket: its id's CRC-32, from 0 to 2**31 - 1.

    The same in every process, on every machine and Python version (unlike `hash()`).
    Of a handler group with `count` buckets, the aggregate's events are in bucket
    `bucket_key(aggregate_id) % count`. Backends store it with each event, so that a
    bucket's events are read without reading the others'.
    """
    return zlib.crc32(aggregate_id.encode("utf-8", "surrogatepass")) & 0x7FFFFFFF


@attrs.frozen(slots=True)
class Bucket:
    """Bucket `index` of `count`: the events of the aggregates whose key % `count` is `index`."""

    index: int
    count: int

    def __attrs_post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1:
            raise ValueError(f"a bucket count is an int of 1 or more, not {self.count!r}")
        if isinstance(self.index, bool) or not isinstance(self.index, int):
            raise ValueError(f"a bucket index is an int, not {self.index!r}")
        if not 0 <= self.index < self.count:
            raise ValueError(f"bucket {self.index} is not one of 0 to {self.count - 1}")

    def holds(self, aggregate_id: str) -> bool:
        """Whether the aggregate `aggregate_id`'s events are in this bucket."""
        return bucket_key(aggregate_id) % self.count == self.index


@attrs.frozen(slots=True)
class SnapshotRecord:
    """An aggregate's state after `version` events, stored under `key`."""

    stream: str
    aggregate_id: str
    version: int
    key: str
    state: JSONObject


@attrs.frozen(slots=True)
class ParkedAggregate:
    """An aggregate whose events a handler set aside: one failed, and those after wait.

    `version` and `position` are the failed event's; every later event of the
    aggregate is parked with it until it is retried or discarded. `error` says how
    the event failed (the exception's type and message), `parked_at` when (UTC).
    """

    stream: str
    aggregate_id: str
    version: int
    position: int
    error: str
    parked_at: datetime


@runtime_checkable
class ParkedEvents(Protocol):
    """A store of handlers' parked aggregates (dead letters), for `domain.handler(park=True)`."""

    async def park(self, handler: str, parked: ParkedAggregate) -> None:
        """Store `parked` for `handler`, replacing what was stored for that aggregate."""
        ...

    async def parked(self, handler: str) -> list[ParkedAggregate]:
        """What `handler` parked, in the order of the failed events' positions."""
        ...

    async def unpark(self, handler: str, stream: str, aggregate_id: str) -> None:
        """Forget what `handler` parked of that aggregate (nothing if none)."""
        ...


class BookmarkStore(Protocol):
    """Where event handlers keep their positions."""

    async def get_bookmark(self, name: str) -> int:
        """The position stored for `name`; 0 if none was stored."""
        ...

    async def set_bookmark(self, name: str, position: int) -> None:
        """Store `position` for `name`."""
        ...


@runtime_checkable
class ListableBookmarks(Protocol):
    """A bookmark store that lists every bookmark it holds, for operators' tools.

    Apart from `BookmarkStore`, so that a store written before it (a class of its own
    with the two methods) still is one. Every `Backend` is one (a backend of another
    library may raise `NotImplementedError`), and so is `InMemoryBookmarks`.
    """

    async def bookmarks(self) -> dict[str, int]:
        """Every bookmark stored, name to position, in the order of the names (by code point).

        A handler group's buckets have a bookmark each, named `<handler>#<index>/<count>`.
        """
        ...


@runtime_checkable
class FencedBookmarks(Protocol):
    """A bookmark store that moves a bookmark only from where its runner last left it.

    A runner moves its bookmark after each batch from the position the batch started
    at. If another runner moved it meanwhile (this runner lost its lease, say, and
    another took over), the move is refused, so no runner without the lease can move
    a bookmark back or past what the holder handled.
    """

    async def move_bookmark(self, name: str, expected: int, position: int) -> None:
        """Store `position` for `name` if `expected` is stored (or nothing, and it is 0).

        Where `position` is stored already, return: a move tried again after a lost
        reply finds its own. Otherwise raise `BookmarkMoved`, storing nothing.
        """
        ...


class Once(NamedTuple):
    """What makes an append happen once: the inbox and the key of the message behind it."""

    inbox: str
    key: str


@runtime_checkable
class ProcessedMessages(Protocol):
    """A store that records the messages an inbox processed, so that none runs twice.

    A key is recorded either by `mark_processed` or by an append with `once` (in
    `Backend.append`), in the transaction that stores the events: then the events
    are stored if and only if the key is recorded.
    """

    async def processed(self, inbox: str, key: str) -> bool:
        """Whether `inbox` recorded `key`."""
        ...

    async def mark_processed(self, inbox: str, key: str) -> None:
        """Record `key` for `inbox` (nothing if it is recorded already)."""
        ...


@runtime_checkable
class GroupMembers(Protocol):
    """A store of the live workers (members) of partitioned handler groups.

    Each member beats while it runs; one that stops beating (killed, frozen, cut off)
    is gone once `ttl` seconds have passed since its last beat. Expiry is written and
    compared by the members' clocks, which must agree to within a tenth of `ttl`.
    """

    async def beat(self, group: str, member: str, ttl: float) -> list[str]:
        """Keep `member` of `group` alive `ttl` seconds from now; the live members, sorted.

        The list holds `member` itself. Members whose time ran out are forgotten.
        """
        ...

    async def leave(self, group: str, member: str) -> None:
        """Forget `member` of `group` at once (nothing if it is not there)."""
        ...


@runtime_checkable
class ListableMembers(Protocol):
    """A store of group members that lists a group's live members, for operators' tools.

    Every `Backend` is one (`members()` raises `NotImplementedError` on a backend that
    keeps no members), and so is `InMemoryBookmarks`. A member's id, as a `HandlerGroup`
    makes it, is its bucket count, its `process_label()` and a random id.
    """

    async def members(self, group: str) -> list[str]:
        """The live members of `group` (those whose time has not run out), sorted."""
        ...


def unexpired(rows: Iterable[Iterable[Any]], now: int) -> list[str]:
    """The members of `rows`, (member, expires) of one group, whose time has not run out at `now`.

    Sorted; `now` and the expiries are milliseconds since the epoch (`expiry_millis`).
    """
    return sorted(member for member, expires in rows if expires >= now)


def expiry_millis(ttl: float) -> tuple[int, int]:
    """Now and `ttl` seconds from now, in whole milliseconds since the epoch (this clock)."""
    now = int(time.time() * 1000)
    return now, now + math.ceil(ttl * 1000)


def live_members(rows: Iterable[Iterable[Any]], member: str, now: int) -> tuple[list[str], bool]:
    """The group's live members, sorted, `member` among them; whether others' time ran out.

    `rows` are the group's (member, expires) as `member`'s beat read them at `now`.
    """
    live = {member}
    expired = False
    for other, expires in rows:
        if other == member:
            continue
        if expires < now:
            expired = True
        else:
            live.add(other)
    return sorted(live), expired


def check_unmoved(name: str, expected: int, found: int | None) -> None:
    """Where bookmark `name` was not at `expected`: return if it is to be inserted, else raise.

    `found` is the position stored for `name`, None if none is. A bookmark never
    stored is at 0, so a move from 0 inserts it; any other finding means another
    runner moved it (`BookmarkMoved`), and the move must not happen.
    """
    if found is None and expected == 0:
        return
    raise BookmarkMoved(name, expected, found)


@runtime_checkable
class Lease(Protocol):
    """The right to run the handler of one name, held by at most one runner at a time.

    A lease held by a process that dies is freed: by the database when its
    connection closes, or by the operating system for a file lock.
    """

    async def acquire(self) -> bool:
        """Take the lease if it is free; return whether this holder has it now."""
        ...

    async def check(self) -> bool:
        """Whether this holder still has the lease (False once it was lost)."""
        ...

    async def release(self) -> None:
        """Give the lease up (nothing happens if it is not held)."""
        ...


@runtime_checkable
class LeaseProvider(Protocol):
    """A bookmark store that also hands out leases for handler names."""

    def lease(self, name: str) -> Lease:
        """A lease for handler `name`, not yet acquired."""
        ...


@runtime_checkable
class LeaseHolders(Protocol):
    """A lease provider that tells who holds a lease, for operators' tools.

    Every `Backend` is one, and so is `InMemoryBookmarks`.
    """

    async def lease_holder(self, name: str) -> str | None:
        """Who holds the lease of `name` now (host and process, as far as the store knows).

        None when no runner holds it.
        """
        ...


@runtime_checkable
class BatchTransaction(Protocol[C_co]):
    """One database transaction around a handler's batch and its bookmark."""

    @property
    def connection(self) -> C_co:
        """The connection a transactional handler writes its read model through."""
        ...

    def savepoint(self) -> AbstractAsyncContextManager[object]:
        """A savepoint: leaving it with an error undoes only what was done inside."""
        ...

    async def commit_bookmark(self, name: str, expected: int, position: int) -> None:
        """Move bookmark `name` from `expected` to `position` in this transaction.

        Raises `BookmarkMoved` when the stored bookmark is not `expected`: another
        runner handled these events, so this transaction must not commit.
        """
        ...


@runtime_checkable
class ParkingTransaction(Protocol):
    """A batch transaction that can also park an aggregate, committing with the batch."""

    async def park(self, handler: str, parked: ParkedAggregate) -> None:
        """Store `parked` for `handler` in this transaction (as `ParkedEvents.park`)."""
        ...

    async def unpark(self, handler: str, stream: str, aggregate_id: str) -> None:
        """Forget what `handler` parked of that aggregate, in this transaction."""
        ...


@runtime_checkable
class TransactionalBookmarks(Protocol[C_co]):
    """A bookmark store that can put a handler's writes and its bookmark in one transaction."""

    def batch_transaction(self) -> AbstractAsyncContextManager[BatchTransaction[C_co]]:
        """Begin a transaction; it commits when the block ends without an error."""
        ...


class AppendListener(Protocol):
    """Wakes a tailing handler when events may have been appended."""

    async def wait(self, timeout: float) -> None:
        """Return when events were appended since the last call, or after `timeout` s."""
        ...

    async def close(self) -> None:
        """Stop listening."""
        ...


class PollingListener:
    """An `AppendListener` that only waits: for backends without push."""

    async def wait(self, timeout: float) -> None:
        """Sleep for `timeout` seconds."""
        await asyncio.sleep(timeout)

    async def close(self) -> None:
        """Nothing to release."""


COUNT_PAGE = 1000
"""Events `Backend.count_events` reads at a time."""

MOST_LISTED = 500
"""The most names a backend lists in one statement (`listed` asks for more in turn).

So that no statement runs unbounded, whatever `limit` a caller asks for: the SQL
backends' recursive statements take a round per name."""


async def listed(
    read: Callable[[str | None, int], Awaitable[Sequence[str]]],
    after: str | None,
    limit: int,
    most: int = MOST_LISTED,
) -> list[str]:
    """At most `limit` names after `after` (None: from the first), read `most` at a time.

    `read(after, wanted)` returns at most `wanted` names after `after`, in the store's
    order; fewer means there are no more.
    """
    found: list[str] = []
    while len(found) < limit:
        wanted = min(limit - len(found), most)
        page = await read(after, wanted)
        found += page
        if len(page) < wanted:
            break
        after = page[-1]
    return found


def check_name(method: str, what: str, value: object) -> None:
    """Refuse `value`, argument `what` of `method`, unless every backend reads it the same way.

    A `str` without the NUL character or lone surrogates (`text_problem`): `TypeError` or
    `ValueError` otherwise, worded alike on every backend.
    """
    if not isinstance(value, str):
        raise TypeError(f"{method}(): {what} is a str, not {value!r}")
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(f"{method}(): {what} {value!r} {problem}")


def check_listing(stream: object, after: object, limit: object) -> None:
    """Refuse arguments of `Backend.aggregate_ids` that no backend could read the same way."""
    check_name("aggregate_ids", "stream", stream)
    check_name("aggregate_ids", "after", after)
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise TypeError(f"aggregate_ids(): limit is an int, not {limit!r}")
    if limit < 1:
        raise ValueError(f"aggregate_ids(): limit is 1 or more, not {limit}")


def check_position(method: str, what: str, value: object) -> None:
    """Refuse `value`, argument `what` of `method`, unless it is an int of 0 or more."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{method}(): {what} is an int, not {value!r}")
    if value < 0:
        raise ValueError(f"{method}(): {what} is 0 or more, not {value}")


def accepts_keyword(method: Callable[..., object], name: str) -> bool:
    """Whether `method` takes the keyword `name`: one written before it was added does not."""
    parameters = inspect.signature(method).parameters
    return name in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


class Backend(abc.ABC):
    """Storage for events, snapshots and bookmarks. See the module docstring."""

    reads_ahead: bool = True
    """Whether a load requests an aggregate's next page of events while it folds the
    page it has, so that waiting on the database overlaps the fold. Backends whose
    reads never wait (the in-memory one) turn it off."""

    _passes_metadata: bool = True
    """Whether `_read_streams` takes `metadata` (one written before it was added does not)."""

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        parameters = inspect.signature(cls._read_streams).parameters.values()
        cls._passes_metadata = len(parameters) > 4 or any(
            p.kind is p.VAR_POSITIONAL for p in parameters
        )

    async def append(
        self,
        stream: str,
        aggregate_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        *,
        once: Once | None = None,
    ) -> Sequence[EventRecord]:
        """Append `events` after `expected_version`, atomically; return them as stored.

        Raises `VersionConflict` when the aggregate is not at `expected_version`,
        including when the database refused a duplicate version (`_is_version_clash`).
        An empty `events` stores nothing and returns nothing, unchecked.

        With `once` (on a `ProcessedMessages` store), its key is recorded in the same
        transaction; if it was recorded before, nothing is stored and `AlreadyProcessed`
        is raised (checked before the version, as a message delivered again after its
        append finds the aggregate moved on).
        """
        if not events:
            return []
        try:
            if once is None:
                return await self._append(stream, aggregate_id, expected_version, events)
            if not accepts_keyword(self._append, "once"):
                raise TypeError(
                    f"{type(self).__qualname__} cannot record an inbox's messages with "
                    "its appends (it is not a ProcessedMessages store)"
                )
            appending = cast("Callable[..., Awaitable[Sequence[EventRecord]]]", self._append)
            return await appending(stream, aggregate_id, expected_version, events, once=once)
        except (VersionConflict, AlreadyProcessed):
            raise
        except Exception as error:
            if self._is_version_clash(error):
                raise VersionConflict(stream, aggregate_id, expected_version) from error
            raise

    @abc.abstractmethod
    async def _append(
        self,
        stream: str,
        aggregate_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
    ) -> Sequence[EventRecord]:
        """Write `events` after `expected_version` in one transaction; return them as stored.

        `append` calls it with one event or more. Raise `VersionConflict` when the stored
        version is not `expected_version`; a database error that `_is_version_clash`
        recognises becomes one in `append`. A `ProcessedMessages` backend takes the
        keyword `once` too: in the same transaction, first, record its key, and if it
        was recorded already raise `AlreadyProcessed` and store nothing.
        """

    def _is_version_clash(self, error: Exception) -> bool:
        """Whether `error` is the database refusing a second event at one version.

        Only that error means a concurrent writer won; every other error stays itself.
        """
        return False

    @abc.abstractmethod
    async def read_aggregate(
        self,
        stream: str,
        aggregate_id: str,
        *,
        after_version: int = 0,
        limit: int = 1000,
        meta: bool = True,
    ) -> Sequence[EventRecord]:
        """At most `limit` events of one aggregate after `after_version`, by version.

        `meta=False` says the caller builds no `EventMeta` from them (a load whose
        folds take none): a backend may then leave out what only that reads, and
        return records with timestamp `NOT_READ`, `event_id` None and `metadata` None.
        """

    async def read_streams(
        self,
        streams: Sequence[str],
        *,
        after_position: int = 0,
        limit: int = 1000,
        metadata: bool = True,
        bucket: Bucket | None = None,
    ) -> Sequence[EventRecord]:
        """At most `limit` events of `streams` after `after_position`, by position.

        `metadata=False` says the caller reads no event ids or metadata (a handler
        declared with `reads_metadata=False`): a backend may then leave them out and
        return records with `event_id` and `metadata` None. With `bucket`, only the
        events of the aggregates in it.
        """
        if not streams:
            return []
        distinct = tuple(dict.fromkeys(streams))
        if bucket is not None:
            return await self._read_bucket(distinct, after_position, limit, metadata, bucket)
        if self._passes_metadata:
            return await self._read_streams(distinct, after_position, limit, metadata)
        written_before = cast("Callable[..., Awaitable[Sequence[EventRecord]]]", self._read_streams)
        return await written_before(distinct, after_position, limit)

    @abc.abstractmethod
    async def _read_streams(
        self, streams: tuple[str, ...], after_position: int, limit: int, metadata: bool
    ) -> Sequence[EventRecord]:
        """At most `limit` events of `streams` (distinct, at least one) after `after_position`.

        By position, and never one a reader could later see an earlier event before.
        """

    async def _read_bucket(
        self,
        streams: tuple[str, ...],
        after_position: int,
        limit: int,
        metadata: bool,
        bucket: Bucket,
    ) -> Sequence[EventRecord]:
        """`_read_streams` of the events in `bucket` only.

        By default, pages of every event are read and those of other buckets dropped:
        a backend that stores `bucket_key` with its events reads the bucket's alone.
        """
        found: list[EventRecord] = []
        page_size = max(limit, 100)
        while len(found) < limit:
            page = await self.read_streams(
                streams, after_position=after_position, limit=page_size, metadata=metadata
            )
            found.extend(r for r in page if bucket.holds(r.aggregate_id))
            if len(page) < page_size:
                break
            after_position = page[-1].position
        return found[:limit]

    @abc.abstractmethod
    async def last_position(self, streams: Sequence[str]) -> int:
        """The highest position a reader of `streams` can see now; 0 if none."""

    async def count_events(
        self,
        streams: Sequence[str],
        *,
        after_position: int = 0,
        up_to: int | None = None,
        bucket: Bucket | None = None,
    ) -> int:
        """How many events of `streams` lie after `after_position`, up to `up_to` included.

        `up_to` is `last_position(streams)` by default, so events appended meanwhile are
        not counted; with `bucket`, only its aggregates' events are. They are counted as
        a reader finds them, read without metadata `COUNT_PAGE` at a time.
        `streams` is a sequence of names, not one `str`; `after_position` and `up_to` are
        ints of 0 or more (`TypeError` or `ValueError` otherwise).
        """
        if isinstance(streams, str):
            raise TypeError(f"count_events(): streams is a list of names, not the str {streams!r}")
        check_position("count_events", "after_position", after_position)
        if up_to is None:
            up_to = await self.last_position(streams)
        else:
            check_position("count_events", "up_to", up_to)
        counted = 0
        while after_position < up_to:
            page = await self.read_streams(
                streams,
                after_position=after_position,
                limit=COUNT_PAGE,
                metadata=False,
                bucket=bucket,
            )
            counted += bisect.bisect_right(page, up_to, key=_position)
            if len(page) < COUNT_PAGE:
                break
            after_position = page[-1].position
        return counted

    @abc.abstractmethod
    async def get_snapshot(self, stream: str, aggregate_id: str) -> SnapshotRecord | None:
        """The stored snapshot of one aggregate, if any."""

    @abc.abstractmethod
    async def put_snapshot(self, snapshot: SnapshotRecord) -> None:
        """Store `snapshot` unless one with a higher version is stored under the same key."""

    @abc.abstractmethod
    async def get_bookmark(self, name: str) -> int:
        """The position stored for handler `name`; 0 if none was stored."""

    @abc.abstractmethod
    async def set_bookmark(self, name: str, position: int) -> None:
        """Store `position` for handler `name`."""

    async def bookmarks(self) -> dict[str, int]:
        """Every bookmark stored in this backend, name to position, in name order (code point).

        A handler group's buckets have a bookmark each, named `<handler>#<index>/<count>`.
        A handler that keeps its bookmark in another store (`bookmarks=` when it is
        bound) has it listed by that store (`ListableBookmarks`).
        """
        found = await self._list_bookmarks()
        return dict(sorted(found.items()))

    async def _list_bookmarks(self) -> Mapping[str, int]:
        """Every bookmark stored, in any order, for `bookmarks()`.

        A backend must implement it to list its bookmarks: nothing in the rest of the
        contract finds their names.
        """
        raise NotImplementedError(
            f"{type(self).__qualname__} cannot list its bookmarks: Backend.bookmarks() "
            "needs _list_bookmarks(), which it does not implement"
        )

    async def streams(self) -> list[str]:
        """The names of the streams that hold at least one event, sorted (by code point)."""
        return sorted(set(await self._list_streams()))

    async def _list_streams(self) -> Iterable[str]:
        """The streams that hold an event, in any order, for `streams()`.

        A backend must implement it to list its streams: nothing in the rest of the
        contract finds their names.
        """
        raise NotImplementedError(
            f"{type(self).__qualname__} cannot list its streams: Backend.streams() "
            "needs _list_streams(), which it does not implement"
        )

    async def aggregate_ids(self, stream: str, *, after: str = "", limit: int = 100) -> list[str]:
        """The ids of `stream`'s aggregates after `after`, sorted (by code point): `limit` at most.

        To page through them all, pass the last id of a page as `after` of the next; a
        page shorter than `limit` is the last. `limit` is an int of 1 or more; `stream`
        and `after` are strings without the NUL character or lone surrogates
        (`TypeError` or `ValueError` otherwise, on every backend).
        """
        check_listing(stream, after, limit)
        return list(await self._list_aggregate_ids(stream, after, limit))

    async def _list_aggregate_ids(self, stream: str, after: str, limit: int) -> Sequence[str]:
        """At most `limit` ids of `stream`'s aggregates after `after`, sorted by code point.

        By default it reads every event of the stream (`read_streams`), on every call,
        and keeps the first events of aggregates: a backend should implement it with
        its database's index instead.
        """
        found: list[str] = []
        position = 0
        while True:
            page = await self.read_streams([stream], after_position=position, limit=1000)
            for record in page:
                # Every aggregate has one version 1: each id is seen once.
                if record.version == 1 and record.aggregate_id > after:
                    if len(found) < limit:
                        bisect.insort(found, record.aggregate_id)
                    elif record.aggregate_id < found[-1]:
                        found.pop()
                        bisect.insort(found, record.aggregate_id)
            if len(page) < 1000:
                return found
            position = page[-1].position

    async def create_schema(self) -> None:
        """Create the tables, collections or constraints storage needs (idempotent).

        Nothing to do by default.
        """

    async def drop_schema(self) -> None:
        """Remove what `create_schema()` made, and every event with it. Nothing by default."""

    async def listen(self, streams: Sequence[str]) -> AppendListener:
        """A listener that wakes when `streams` may have new events; polling by default."""
        return PollingListener()

    def lease(self, name: str) -> Lease:
        """A lease for handler `name`; by default it excludes runners of this process only."""
        return LocalLease(self, name)

    async def lease_holder(self, name: str) -> str | None:
        """Who holds the lease of `name` now: host and process, as far as the store knows.

        None when no runner holds it. Any lease name, a handler group's bucket leases
        (`<handler>#<index>/<count>`) too. `name` is a string without the NUL character
        or lone surrogates (`TypeError` or `ValueError` otherwise, on every backend).
        """
        check_name("lease_holder", "name", name)
        return await self._lease_holder(name)

    async def _lease_holder(self, name: str) -> str | None:
        """Who holds the lease `lease(name)` takes, for `lease_holder` (`name` checked).

        By default that of `LocalLease`: this process, when one of its runners holds it.
        A backend that overrides `lease` must override this too.
        """
        return local_lease_holder(self, name)

    async def members(self, group: str) -> list[str]:
        """The live members of handler group `group` (whose time has not run out), sorted.

        For a backend that keeps groups' members (`GroupMembers`). `group` is checked as
        `lease_holder`'s name is.
        """
        check_name("members", "group", group)
        return await self._list_members(group)

    async def _list_members(self, group: str) -> list[str]:
        """The live members of `group`, sorted, for `members()` (`group` checked).

        A backend that keeps groups' members must implement it to list them.
        """
        raise NotImplementedError(
            f"{type(self).__qualname__} cannot list a group's members: Backend.members() "
            "needs _list_members(), which it does not implement"
        )

    async def close(self) -> None:
        """Release connections; the backend is not used afterwards."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Close the backend as the block ends."""
        await self.close()


_held: weakref.WeakKeyDictionary[object, set[str]] = weakref.WeakKeyDictionary()


def local_lease_holder(scope: object, name: str) -> str | None:
    """`process_label()` if a `LocalLease` of `scope` in this process holds `name`, else None."""
    return process_label() if name in _held.get(scope, ()) else None


class LocalLease:
    """A lease excluding other runners of this process that share `scope` (a backend)."""

    def __init__(self, scope: object, name: str) -> None:
        self._scope = scope
        self._name = name
        self._held = False

    async def acquire(self) -> bool:
        """Take the lease if no runner of this process holds it."""
        if not self._held:
            names = _held.setdefault(self._scope, set())
            if self._name not in names:
                names.add(self._name)
                self._held = True
        return self._held

    async def check(self) -> bool:
        """Whether this runner holds the lease."""
        return self._held

    async def release(self) -> None:
        """Give the lease up."""
        if self._held:
            _held.get(self._scope, set()).discard(self._name)
            self._held = False
