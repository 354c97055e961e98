"""Running a handler partitioned: its events shared out in buckets over a group of workers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Sequence
from typing import Generic, Self, TypeVar

from . import _telemetry
from ._batches import Batches, Bookmark
from ._codec import Codec
from ._errors import BookmarkMoved, DefinitionError, HandlerBehind, HandlerBusy, HandlerError
from ._handlers import EventHandler
from ._parking import Parking, parked_records
from ._progress import FIRST_DELAY, MAX_DELAY, check_wait
from ._retry import MAX_FAILURE_BACKOFF, RetryPolicy
from ._setup import set_up
from ._storable import id_problem
from ._streams import StreamMap
from .backends.base import (
    AppendListener,
    Backend,
    BookmarkStore,
    Bucket,
    GroupMembers,
    Lease,
    ParkedAggregate,
    bucket_key,
    new_event_id,
    process_label,
)

log = logging.getLogger("evtsrc.handlers")

H = TypeVar("H", bound=EventHandler)


def bucket_bookmark(name: str, index: int, count: int) -> str:
    """The name of bucket `index` of `count`'s bookmark and lease, of handler `name`."""
    return f"{name}#{index}/{count}"


def share(members: Sequence[str], member: str, buckets: int) -> int:
    """How many of `buckets` `member` holds among `members` (sorted): an even share.

    Each holds `buckets // len(members)`; the first `buckets % len(members)` one more.
    """
    base, extra = divmod(buckets, len(members))
    return base + (1 if members.index(member) < extra else 0)


def preference(members: Sequence[str], member: str, buckets: int) -> list[int]:
    """The order `member` takes free buckets in: from its own stretch of them on.

    Members start apart (the k-th of n at bucket k * buckets / n), so that several
    taking buckets at once seldom try the same ones.
    """
    start = members.index(member) * buckets // len(members)
    return [(start + k) % buckets for k in range(buckets)]


class _Held:
    """One bucket this worker holds: its lease, bookmark and batches, and the task handling it."""

    def __init__(
        self,
        bucket: Bucket,
        lease: Lease,
        bookmark: Bookmark,
        batches: Batches,
        parking: Parking | None,
    ) -> None:
        self.bucket = bucket
        self.lease = lease
        self.bookmark = bookmark
        self.batches = batches
        self.parking = parking
        self.lock = asyncio.Lock()
        """Held by a catch-up, and by a retry of a parked aggregate."""
        self.wake = asyncio.Event()
        """Set when events may have been appended, or when the task is to stop."""
        self._stopping = False
        self.task: asyncio.Task[None] | None = None

    def stop(self) -> None:
        """Ask the task to stop after its current batch."""
        self._stopping = True
        self.wake.set()

    def stopping(self) -> bool:
        """Whether the task was asked to stop."""
        return self._stopping


class HandlerGroup(Generic[H]):
    """Runs a handler as one worker of a group that shares the handler's events out.

    Get one from `Domain.handler_group()`. Events go to `buckets` buckets by their
    aggregate (`bucket_key(aggregate_id) % buckets`), so each aggregate's events are
    handled in version order, by one worker at a time; there is no order between
    buckets. Each bucket has its own bookmark and lease, named `<name>#<index>/<buckets>`.

    Every `start()`ed group sharing the store (in this process or any other) is a
    member: it beats in the store every third of `member_ttl` seconds and holds an
    even share of the buckets. A member that joins takes buckets from its second beat
    on (so that members started together share from the start): those others let go
    of, only as many as the new shares need. A member that stops lets go of its
    buckets and leaves at once; one that dies is gone once `member_ttl` has passed
    since its last beat, and its buckets are taken within a beat after that (and
    after their leases are free: at once on the SQL backends, after `lease_ttl` on
    MongoDB and Neo4j). A worker that lost a bucket can no longer move its bookmark
    (see `FencedBookmarks`), so a `TransactionalHandler` stays exactly-once.

    `concurrency` is how many of its buckets' batches a worker handles at once. With
    more than one, callbacks of different buckets interleave: the handler must not
    keep a batch's state on itself (a `TransactionalHandler`'s `connection` is the
    running batch's). A bucket's bookmark starts, the first time, from the handler's
    unpartitioned bookmark, so a handler run by one `HandlerRunner` can move on to a
    group; every member must run the same number of buckets. Other options are those
    of `HandlerRunner`.
    """

    def __init__(
        self,
        handler: H,
        *,
        backend: Backend,
        codec: Codec,
        streams: StreamMap,
        buckets: int,
        concurrency: int = 1,
        member_ttl: float = 10.0,
        bookmarks: BookmarkStore | None = None,
        continue_on_error: bool = False,
        batch_size: int = 1000,
        poll_interval: float = 1.0,
        retry: RetryPolicy | None = None,
        park: bool = False,
    ) -> None:
        for option, value in (("buckets", buckets), ("concurrency", concurrency)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{option} must be an int of 1 or more, not {value!r}")
        if not member_ttl > 0:
            raise ValueError(f"member_ttl must be more than 0 seconds, not {member_ttl!r}")
        setup = set_up(
            handler,
            backend=backend,
            codec=codec,
            streams=streams,
            bookmarks=bookmarks,
            continue_on_error=continue_on_error,
            batch_size=batch_size,
            poll_interval=poll_interval,
            retry=retry,
            park=park,
        )
        self.handler: H = handler
        """The handler this group's buckets feed."""
        self.name = setup.name
        problem = id_problem(bucket_bookmark(self.name, buckets - 1, buckets))
        if problem is not None:
            raise DefinitionError(f"handler {self.name!r}: its buckets' bookmark name {problem}")
        store = setup.store
        if not isinstance(store, GroupMembers):
            raise DefinitionError(
                f"handler {self.name!r} runs in a group, which needs a bookmark store that "
                f"keeps members (GroupMembers), not {type(store).__qualname__}"
            )
        self.buckets = buckets
        """How many buckets the handler's events are shared out in."""
        self.streams: tuple[str, ...] = setup.streams
        self._setup = setup
        self._backend = backend
        self._store = store
        self._members: GroupMembers = store
        self._concurrency = concurrency
        self._ttl = float(member_ttl)
        self._batch_size = batch_size
        self._poll = poll_interval
        self._read = setup.read
        self.member = f"{buckets}:{process_label()} {new_event_id()}"
        """This worker's id in the group: its bucket count (up to the first colon), then
        its host and process (`"<host> pid <pid>"`) and a random id, so that an operator
        listing the group's members (`ListableMembers`) sees where each one runs."""
        self._held: dict[int, _Held] = {}
        self._gate: asyncio.Semaphore | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.last_error: BaseException | None = None
        """The error of the last failure in the background (a beat or a bucket's run)."""

    @property
    def running(self) -> bool:
        """Whether `start()` launched this worker and it has not stopped."""
        return self._task is not None and not self._task.done()

    @property
    def parks(self) -> bool:
        """Whether the handler parks failed events (`park=True`): `parked()` lists them."""
        return self._setup.parked is not None

    @property
    def held(self) -> tuple[int, ...]:
        """The buckets this worker holds now, by index."""
        return tuple(sorted(self._held))

    async def start(self) -> None:
        """Join the group and handle a share of its buckets in the background until `stop()`."""
        if self.running:
            raise RuntimeError(f"handler group {self.name!r} is already running")
        self._stopping = asyncio.Event()
        self._gate = asyncio.Semaphore(self._concurrency)
        self._task = asyncio.get_running_loop().create_task(
            self._loop(), name=f"evtsrc handler group {self.name}"
        )

    async def stop(self) -> None:
        """Let go of every bucket (after its current batch) and leave the group."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        await asyncio.wait([task])
        error = None if task.cancelled() else task.exception()
        if error is not None:
            raise error

    async def __aenter__(self) -> Self:
        """`start()` as the block begins."""
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """`stop()` as the block ends."""
        await self.stop()

    async def positions(self) -> dict[int, int]:
        """Each bucket's bookmark, as stored, by index (the handler's own for one never used)."""
        plain = await self._store.get_bookmark(self.name)
        found: dict[int, int] = {}
        for index in range(self.buckets):
            stored = await self._store.get_bookmark(bucket_bookmark(self.name, index, self.buckets))
            found[index] = stored or plain
        return found

    async def wait_for(self, position: int, *, timeout: float) -> None:
        """Return once every bucket has handled its events up to `position`.

        As `HandlerRunner.wait_for`, reading the stored bookmarks of the buckets
        (held here or elsewhere), again after a delay growing from 5 ms to 250 ms.
        """
        check_wait(position, timeout)
        if position <= 0:
            return
        clock = asyncio.get_running_loop().time
        deadline = clock() + timeout
        delay = FIRST_DELAY
        while True:
            behind = await self._behind(position)
            if behind is None:
                return
            now = clock()
            if now >= deadline:
                raise HandlerBehind(self.name, position, behind, timeout)
            await asyncio.sleep(min(delay, deadline - now))
            delay = min(delay * 2, MAX_DELAY)

    async def _behind(self, position: int) -> int | None:
        """The lowest bookmark of a bucket that has not handled up to `position`; None if none."""
        if await self._backend.last_position(self._setup.every_stream) < position:
            return 0
        lowest: int | None = None
        for index, bookmark in (await self.positions()).items():
            if bookmark >= position:
                continue
            page = await self._backend.read_streams(
                self.streams,
                after_position=bookmark,
                limit=1,
                bucket=Bucket(index, self.buckets),
            )
            if page and page[0].position <= position:
                lowest = bookmark if lowest is None else min(lowest, bookmark)
        return lowest

    async def parked(self) -> list[ParkedAggregate]:
        """The aggregates the handler parked (`park=True`), oldest failure first."""
        return await self._setup.parking_store().parked(self.name)

    async def rebuild(self) -> int:
        """Start over and catch up every bucket, holding every bucket's lease throughout.

        Takes all the leases first: `HandlerBusy`, with nothing cleared, while a member
        holds one (stop the group everywhere first). Then calls `on_reset`, sets every
        bucket's bookmark and the handler's unpartitioned one to 0, and handles each
        bucket's events. Returns how many events were handled. A bucket whose handler
        fails stops there; the others are rebuilt, then the first `HandlerError` is
        raised. Not on a started group.
        """
        if self.running:
            raise RuntimeError(f"handler group {self.name!r} runs: stop it before rebuilding")
        taken: list[Lease] = []
        try:
            for index in range(self.buckets):
                lease = self._lease_of(index)
                if not await lease.acquire():
                    raise HandlerBusy(bucket_bookmark(self.name, index, self.buckets))
                taken.append(lease)
            held = [self._bucket(index, lease) for index, lease in enumerate(taken)]
            await self._setup.in_transaction(self.handler.on_reset)
            await self._store.set_bookmark(self.name, 0)
            for bucket in held:
                await bucket.bookmark.save(0)
            self._gate = asyncio.Semaphore(self._concurrency)
            handled = 0
            failure: HandlerError | None = None
            for bucket in held:
                try:
                    handled += await self._catch_up(bucket)
                except HandlerError as error:  # the other buckets are rebuilt all the same
                    failure = failure or error
            if failure is not None:
                raise failure
            return handled
        finally:
            for lease in taken:
                await lease.release()

    async def retry_parked(self, stream: str, aggregate_id: str) -> int:
        """Handle a parked aggregate's events again, in order, and let it through.

        As `HandlerRunner.retry_parked`, up to the bookmark of the aggregate's bucket.
        This member handles it if it holds the bucket, else takes the bucket's lease for
        the call: `HandlerBusy` if another member holds it.
        """
        self._setup.parking_store()
        async with self._holding(bucket_key(aggregate_id) % self.buckets) as held:
            assert held.parking is not None
            parked = await held.parking.find(stream, aggregate_id)
            until = await held.bookmark.read() or await self._store.get_bookmark(self.name)
            records = await parked_records(self._backend, parked, until, self._batch_size)
            return await held.batches.replay(stream, aggregate_id, records)

    async def discard_parked(self, stream: str, aggregate_id: str) -> None:
        """Let a parked aggregate through without handling its parked events.

        Takes the aggregate's bucket as `retry_parked` does.
        """
        self._setup.parking_store()
        async with self._holding(bucket_key(aggregate_id) % self.buckets) as held:
            assert held.parking is not None
            await held.parking.find(stream, aggregate_id)
            await held.parking.unpark(stream, aggregate_id)

    # -- the worker ---------------------------------------------------------------------------

    async def _loop(self) -> None:
        listener = await self._setup.listen(f"handler group {self.name}")
        waking = asyncio.get_running_loop().create_task(self._wake_on_appends(listener))
        joined = False  # the first beat only joins: members started together then share
        try:
            while not self._stopping.is_set():
                try:
                    if joined:
                        await self._rebalance()
                    else:
                        await self._members.beat(self.name, self.member, self._ttl)
                        joined = True
                except Exception as error:
                    self.last_error = error
                    log.exception(
                        "handler group %s: the beat failed",
                        self.name,
                        extra=_telemetry.handler_ids(self.name),
                    )
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._ttl / 3):
                        await self._stopping.wait()
        finally:
            self._stopping.set()  # also ends a wake-up loop whose listener ate the cancel
            waking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waking
            await asyncio.gather(*(self._let_go(index) for index in list(self._held)))
            with contextlib.suppress(Exception):
                await listener.close()
            try:
                await self._members.leave(self.name, self.member)
            except Exception as error:  # it is gone once its time runs out
                log.warning(
                    "handler group %s: could not leave: %r",
                    self.name,
                    error,
                    extra=_telemetry.handler_ids(self.name),
                )

    async def _wake_on_appends(self, listener: AppendListener) -> None:
        """Wake every held bucket when events may have come, and at least every poll."""
        while not self._stopping.is_set():
            try:
                await listener.wait(self._poll)
            except Exception:
                log.exception(
                    "handler group %s: listening failed; polling",
                    self.name,
                    extra=_telemetry.handler_ids(self.name),
                )
                await asyncio.sleep(self._poll)
            for held in list(self._held.values()):
                held.wake.set()

    async def _rebalance(self) -> None:
        """Beat, then let go of buckets above this worker's share or take free ones up to it."""
        members = await self._members.beat(self.name, self.member, self._ttl)
        counts = {member.partition(":")[0] for member in members}
        if counts != {str(self.buckets)}:
            log.error(
                "handler group %s: its members run different bucket counts (%s); this one "
                "(%d) holds none until they agree",
                self.name,
                ", ".join(sorted(counts)),
                self.buckets,
                extra=_telemetry.handler_ids(self.name),
            )
            await asyncio.gather(*(self._let_go(index) for index in list(self._held)))
            return
        for index, held in list(self._held.items()):
            if held.task is None or held.task.done():  # it lost its lease
                await self._let_go(index)
        order = preference(members, self.member, self.buckets)
        wanted = share(members, self.member, self.buckets)
        extra = [index for index in reversed(order) if index in self._held]
        if len(extra) > wanted:
            await asyncio.gather(*(self._let_go(index) for index in extra[: len(extra) - wanted]))
            return
        for index in order:
            if len(self._held) >= wanted or self._stopping.is_set():
                break
            if index not in self._held:
                await self._try_to_take(index)

    def _lease_of(self, index: int) -> Lease:
        return self._setup.lease(bucket_bookmark(self.name, index, self.buckets))

    def _bucket(self, index: int, lease: Lease) -> _Held:
        """Bucket `index`'s bookmark, parked aggregates and batches, under `lease` (held)."""
        bookmark = Bookmark(self._store, bucket_bookmark(self.name, index, self.buckets))
        bucket = Bucket(index, self.buckets)
        parked = self._setup.parked
        parking = None if parked is None else Parking(parked, self.name, bucket=bucket)
        batches = self._setup.batches(bookmark, parking, bucket)
        return _Held(bucket, lease, bookmark, batches, parking)

    async def _try_to_take(self, index: int) -> None:
        lease = self._lease_of(index)
        if not await lease.acquire():
            return
        held = self._held[index] = self._bucket(index, lease)
        held.task = asyncio.get_running_loop().create_task(
            self._work(held), name=f"evtsrc handler {held.bookmark.name}"
        )
        log.info(
            "handler group %s: took bucket %d",
            self.name,
            index,
            extra=_telemetry.handler_ids(self.name, bucket=index),
        )

    @contextlib.asynccontextmanager
    async def _holding(self, index: int) -> AsyncGenerator[_Held]:
        """Bucket `index` for the block: as this member holds it, or its lease taken for it.

        Raises `HandlerBusy` if another member holds it.
        """
        held = self._held.get(index)
        if held is not None:
            async with held.lock:  # between two of its catch-ups
                yield held
            return
        lease = self._lease_of(index)
        if not await lease.acquire():
            raise HandlerBusy(bucket_bookmark(self.name, index, self.buckets))
        try:
            yield self._bucket(index, lease)
        finally:
            await lease.release()

    async def _let_go(self, index: int) -> None:
        """Stop handling bucket `index` after its current batch and free its lease."""
        held = self._held.pop(index, None)
        if held is None:
            return
        held.stop()
        if held.task is not None:
            await asyncio.wait([held.task])
        ids = _telemetry.handler_ids(self.name, bucket=index)
        log.info("handler group %s: letting go of bucket %d", self.name, index, extra=ids)
        recorder = _telemetry.active
        if recorder is not None:
            recorder.forget_lag(self.name, held.bucket)
        try:
            await held.lease.release()
        except Exception as error:
            log.warning(
                "handler group %s: could not free bucket %d: %r",
                self.name,
                index,
                error,
                extra=ids,
            )

    async def _work(self, held: _Held) -> None:
        """Handle one held bucket's events as they come, until let go of or its lease is lost."""
        failures = 0
        while not held.stopping():
            held.wake.clear()
            delay = self._poll
            try:
                if not await held.lease.check():
                    log.warning(
                        "handler group %s: lost bucket %d",
                        self.name,
                        held.bucket.index,
                        extra=_telemetry.handler_ids(self.name, bucket=held.bucket.index),
                    )
                    return
                async with held.lock:
                    await self._catch_up(held)
                failures = 0
            except BookmarkMoved:
                log.warning(
                    "handler group %s: bucket %d was moved on by another worker; letting go",
                    self.name,
                    held.bucket.index,
                    extra=_telemetry.handler_ids(self.name, bucket=held.bucket.index),
                )
                return
            except Exception as error:
                failures += 1
                self.last_error = error
                delay = min(self._poll * 2**failures, MAX_FAILURE_BACKOFF)
                log.exception(
                    "handler group %s: bucket %d failed; retrying in %.1f s",
                    self.name,
                    held.bucket.index,
                    delay,
                    extra=_telemetry.handler_ids(self.name, bucket=held.bucket.index, error=error),
                )
            if held.stopping():
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await held.wake.wait()

    async def _catch_up(self, held: _Held) -> int:
        """Handle what there is in the bucket; how many events a callback handled."""
        handled = 0
        position = held.bookmark.known
        if position is None:
            position = await self._start_position(held)
        if held.parking is not None:
            await held.parking.load()
        gate = self._gate
        assert gate is not None
        async with held.batches.in_flight.settling(everything=True):
            while not held.stopping():
                async with gate:
                    records = await self._read(
                        self.streams,
                        after_position=position,
                        limit=self._batch_size,
                        bucket=held.bucket,
                    )
                    if not records:
                        return handled
                    handled += await held.batches.handle(records, position)
                position = records[-1].position
                if len(records) < self._batch_size:
                    return handled
        return handled

    async def _start_position(self, held: _Held) -> int:
        """The bucket's stored bookmark; the first time, the handler's unpartitioned one."""
        position = await held.bookmark.read()
        if position == 0:
            plain = await self._store.get_bookmark(self.name)
            if plain > 0:
                await held.bookmark.advance(0, plain)
                position = plain
        held.bookmark.known = position
        return position
