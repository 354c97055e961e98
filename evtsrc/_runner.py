"""Running a handler: reading its streams in order, keeping its bookmark and its lease."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Sequence
from typing import Generic, Self, TypeVar

from . import _telemetry
from ._batches import Bookmark
from ._codec import Codec
from ._errors import DefinitionError, HandlerBehind, HandlerBusy
from ._handlers import EventHandler
from ._parking import Parking, parked_records
from ._progress import FIRST_DELAY, MAX_DELAY, Progress, check_wait, passed
from ._reading import ReadAhead
from ._retry import MAX_FAILURE_BACKOFF, RetryPolicy
from ._setup import set_up
from ._streams import StreamMap
from ._versions import Versions, check_version
from .backends.base import (
    AppendListener,
    Backend,
    BookmarkStore,
    EventRecord,
    ParkedAggregate,
    PollingListener,
)

log = logging.getLogger("evtsrc.handlers")

H = TypeVar("H", bound=EventHandler)


class HandlerRunner(Generic[H]):
    """Feeds a handler the events of its streams in global order, keeping its bookmark.

    Get one from `Domain.handler()`. Delivery is at least once: the bookmark
    is stored after each batch and never past an event that was not handled, so
    after a crash a batch may be handled again but no event is skipped. A
    `TransactionalHandler` gets exactly-once effects instead: its writes and
    its bookmark commit together.

    One runner per handler name is active at a time: a runner takes the
    name's lease from the bookmark store (a database lock on the SQL backends)
    before it handles anything. A `start()`ed runner whose lease is held
    elsewhere stands by and takes over when the holder stops or dies; a
    `run_once()` raises `HandlerBusy` instead.

    Options: `tail_stream` starts a handler whose bookmark is 0 at the end of its
    streams; `always_tail_stream` starts at the end whenever the runner starts
    (its first run, every `start()`, and after `reset()`); `continue_on_error`
    reports a failing event to `EventHandler.on_error()` and goes on, where
    otherwise the handler stops at it and `run_once()` raises `HandlerError`;
    `retry` (a `RetryPolicy`) calls a callback that raised again, after a growing
    random delay, before its event counts as failed; `park` sets a failed event's
    aggregate aside (with every later event of it) and goes on with the others, to
    be listed, retried or discarded (`parked()`, `retry_parked()`,
    `discard_parked()`). `standby_interval` is how often a standing-by runner tries
    the lease.
    """

    def __init__(
        self,
        handler: H,
        *,
        backend: Backend,
        codec: Codec,
        streams: StreamMap,
        bookmarks: BookmarkStore | None = None,
        tail_stream: bool = False,
        always_tail_stream: bool = False,
        continue_on_error: bool = False,
        batch_size: int = 1000,
        poll_interval: float = 1.0,
        standby_interval: float = 1.0,
        retry: RetryPolicy | None = None,
        park: bool = False,
        versioned: bool = False,
        version: int | None = None,
    ) -> None:
        if not standby_interval > 0:
            raise ValueError(f"standby_interval must be positive, not {standby_interval!r}")
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
        if version is not None and versioned:
            raise ValueError("a runner either follows the live version (versioned) or builds one")
        if (versioned or version is not None) and "@" in setup.name:
            raise DefinitionError(
                f"handler {setup.name!r} is versioned, so its name has no '@': its versions' "
                "bookmarks are named <name>@<version> and <name>@live"
            )
        self.handler: H = handler
        """The handler this runner feeds."""
        self.handler_name = setup.name
        """The handler's name; `name` adds the version, for a version other than 1."""
        self.streams: tuple[str, ...] = setup.streams
        self.versioned = versioned
        """Whether the runner builds the live version, and follows it as it changes."""
        self._versions = Versions(setup.store, setup.name)
        self._options = {
            "backend": backend,
            "codec": codec,
            "streams": streams,
            "bookmarks": bookmarks,
            "tail_stream": tail_stream,
            "always_tail_stream": always_tail_stream,
            "continue_on_error": continue_on_error,
            "batch_size": batch_size,
            "poll_interval": poll_interval,
            "standby_interval": standby_interval,
            "retry": retry,
            "park": park,
        }
        self._setup = setup
        self._backend = backend
        self._build(1 if version is None else check_version(version))
        self._tail = tail_stream
        self._always_tail = always_tail_stream
        self._tail_next = always_tail_stream
        """Whether the next run starts at the end (set on creation, `start()` and `reset()`)."""
        self._batch_size = batch_size
        self._read_streams = setup.read
        self._poll = poll_interval
        self._standby = standby_interval
        self._lock: asyncio.Lock | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._waiting = False
        self._progress: Progress | None = None  # set while the started loop holds the lease
        self.last_error: BaseException | None = None
        """The error of the last failed run in the background, if any."""

    def _build(self, version: int) -> None:
        """Keep `version`'s bookmark, lease and parked events from now on."""
        setup = self._setup
        self.version = version
        """The version of the handler's read model this runner builds (see `versioned`)."""
        self.name = self._versions.bookmark_name(version)
        """The name of the bookmark and the lease: the handler's, with `@<version>` after
        it for a version other than 1."""
        self._lease = setup.lease(self.name)
        self._bookmark = Bookmark(setup.store, self.name)
        self._parking = None if setup.parked is None else Parking(setup.parked, self.name)
        self._batches = setup.batches(self._bookmark, self._parking)

    async def live_version(self) -> int:
        """The version of the handler's read model that is live: 1 until another is made so."""
        return await self._versions.live()

    def at_version(self, version: int) -> HandlerRunner[H]:
        """A runner of the same handler and options that builds `version`, whatever is live.

        For a blue/green rebuild: build the next version beside the live one, then
        `make_live()`. The runner shares this one's handler object and sets its
        `version` whenever it runs: run it in a process that does not run this one
        (as the `evtsrc rebuild --blue-green` command does).
        """
        return HandlerRunner(self.handler, version=version, **self._options)  # type: ignore[arg-type]

    async def make_live(self) -> int:
        """Make this runner's version the live one; return the version that was live.

        Versioned runners (`versioned=True`) then switch to it as their next run
        begins, from its bookmark. `BookmarkMoved` if another version was made live
        meanwhile, on a store that fences its bookmarks.
        """
        return await self._versions.make_live(self.version)

    async def drop(self) -> None:
        """Remove this version's read model: call the handler's `on_drop`, bookmark to 0.

        Refused (`ValueError`) for the live version. Holds the version's lease meanwhile:
        `HandlerBusy` if a runner builds it.
        """
        async with self._guard():
            if self.version == await self._versions.live():
                raise ValueError(
                    f"handler {self.handler_name!r}: version {self.version} is live; make "
                    "another version live before dropping it"
                )
            taken = await self._take_lease()
            try:
                self.handler.version = self.version
                await self._setup.in_transaction(self.handler.on_drop)
                await self._bookmark.save(0)
                self._bookmark.known = None
            finally:
                if taken and not self.running:
                    await self._lease.release()

    async def _follow_live(self) -> None:
        """For a versioned runner: build the live version, leaving the one built so far."""
        if not self.versioned:
            return
        live = await self._versions.live()
        if live == self.version:
            return
        await self._batches.in_flight.settle()
        await self._lease.release()
        log.info(
            "handler %s: version %d is live; building it from now on",
            self.handler_name,
            live,
            extra=_telemetry.handler_ids(self.name),
        )
        self._build(live)

    @property
    def running(self) -> bool:
        """Whether `start()` launched a loop that has not stopped."""
        return self._task is not None and not self._task.done()

    @property
    def parks(self) -> bool:
        """Whether the handler parks failed events (`park=True`): `parked()` lists them."""
        return self._setup.parked is not None

    async def position(self) -> int:
        """The position of the last event handled (its bookmark)."""
        if self._bookmark.known is not None:
            return self._bookmark.known
        return await self._bookmark.read()

    async def wait_for(self, position: int, *, timeout: float) -> None:
        """Return once the handler has handled every event of its streams up to `position`.

        For read-your-writes: `position` is typically an aggregate's `last_position`
        after `execute`. A position of another stream's event counts as reached once
        the handler is past every event of its own streams below it. On a runner
        `start()`ed in this process and holding the lease, the wait wakes its loop and
        ends as the loop moves past; otherwise (the handler runs in another process or
        runner) it reads the stored bookmark, again after a delay growing from 5 ms to
        250 ms. Raises `HandlerBehind` after `timeout` seconds (positive and finite);
        a `position` of 0 or less returns at once.
        """
        check_wait(position, timeout)
        if position <= 0:
            return
        clock = asyncio.get_running_loop().time
        deadline = clock() + timeout
        delay = FIRST_DELAY
        asked: asyncio.Event | None = None  # set when the run asked of the started loop ends
        while True:
            progress = self._progress
            if progress is None:  # not started here: follow the stored bookmark
                asked = None
                reached = await self._bookmark.read()
                if reached >= position or await self._passed(reached, position):
                    return
            else:  # the started loop of this runner keeps the bookmark known
                reached = self._bookmark.known or 0
                if reached >= position:
                    return
                if asked is not None and asked.is_set() and await self._passed(reached, position):
                    return
            now = clock()
            if now >= deadline:
                raise HandlerBehind(self.name, position, reached, timeout)
            if progress is None:
                await asyncio.sleep(min(delay, deadline - now))
                delay = min(delay * 2, MAX_DELAY)
                continue
            if asked is None or asked.is_set():
                if asked is not None:  # that run ended short of `position`: ask again later
                    await asyncio.sleep(min(delay, deadline - now))
                    delay = min(delay * 2, MAX_DELAY)
                    if self._progress is not progress:
                        continue
                asked = progress.next_run()
                progress.nudge()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(deadline - clock()):
                    await asked.wait()

    async def _passed(self, bookmark: int, position: int) -> bool:
        every = self._setup.every_stream
        return await passed(self._backend, self.streams, every, bookmark, position)

    async def set_position(self, position: int) -> None:
        """Move the bookmark: the next run handles events after `position`."""
        if position < 0:
            raise ValueError(f"a position is 0 or more, not {position}")
        async with self._guard():
            self._batches.in_flight.abandon()  # sent again from the new position, if ever
            await self._bookmark.save(position)

    async def reset(self) -> None:
        """Start over: call the handler's `on_reset` and move the bookmark to 0.

        With `always_tail_stream` the next run starts at the end instead.
        """
        async with self._guard():
            await self._reset()

    async def _reset(self) -> None:
        self.handler.version = self.version
        self._batches.in_flight.abandon()
        await self._setup.in_transaction(self.handler.on_reset)
        await self._bookmark.save(0)
        self._bookmark.known = None
        self._tail_next = self._always_tail

    async def rebuild(self) -> int:
        """Start over and catch up, holding the lease throughout: the `evtsrc rebuild` command.

        As `reset()` then `run_once()`, except that it first takes the lease, so no
        runner elsewhere goes on meanwhile: `HandlerBusy`, with nothing reset, if
        one holds it. Returns how many events were handled.
        """
        async with self._guard():
            await self._follow_live()
            taken = await self._take_lease()
            try:
                await self._reset()
                return await self._catch_up(True)
            finally:
                if taken and not self.running:
                    await self._lease.release()

    async def run_once(self) -> int:
        """Handle events until caught up (or `stop()` is called between two batches).

        Returns how many events a callback handled without raising. Raises
        `HandlerBusy` when another runner holds this handler's lease.
        """
        return await self._run(settle=True, follow=True)

    async def _run(self, *, settle: bool, follow: bool = False) -> int:
        """`run_once`; unless `settle`, batches still in flight at its end stay so.

        With `follow`, a versioned runner first moves to the live version.
        """
        async with self._guard():
            if follow:
                await self._follow_live()
            taken = await self._take_lease()
            self.handler.version = self.version
            try:
                return await self._catch_up(settle)
            finally:
                if taken and not self.running:
                    await self._lease.release()

    async def parked(self) -> list[ParkedAggregate]:
        """The aggregates this handler parked (`park=True`), oldest failure first."""
        return await self._parked_store().store.parked(self.name)

    async def retry_parked(self, stream: str, aggregate_id: str) -> int:
        """Handle a parked aggregate's events again, in order, and let it through.

        Handles its events from the failed one up to the bookmark (later ones are
        handled as they come, once it is let through). Returns how many were handled.
        If one fails again, the aggregate stays parked from that event, with its new
        error, and `HandlerError` is raised. Takes the handler's lease as `run_once()`
        does; `LookupError` if nothing of that aggregate is parked.
        """
        parking = self._parked_store()
        async with self._guard():
            taken = await self._take_lease()
            try:
                self.handler.version = self.version
                parked = await parking.find(stream, aggregate_id)
                until = await self._bookmark.read()
                records = await parked_records(self._backend, parked, until, self._batch_size)
                return await self._batches.replay(stream, aggregate_id, records)
            finally:
                if taken and not self.running:
                    await self._lease.release()

    async def discard_parked(self, stream: str, aggregate_id: str) -> None:
        """Let a parked aggregate through without handling its parked events."""
        parking = self._parked_store()
        async with self._guard():
            await parking.find(stream, aggregate_id)
            await parking.unpark(stream, aggregate_id)

    def _parked_store(self) -> Parking:
        self._setup.parking_store()
        assert self._parking is not None
        return self._parking

    async def _take_lease(self) -> bool:
        """Make sure this runner holds the lease; True if it was taken just now."""
        if await self._lease.check():
            return False
        if not await self._lease.acquire():
            raise HandlerBusy(self.name)
        await self._reread_position()
        return True

    async def _reread_position(self) -> None:
        """After taking the lease: another runner may have moved the bookmark meanwhile."""
        if self._bookmark.known is not None:
            self._bookmark.known = await self._bookmark.read()

    async def _catch_up(self, settle: bool) -> int:
        """Handle what there is to handle.

        Batches whose `after_batch` left something to wait for (a relay's
        acknowledgements) may still be in flight at the end unless `settle`; the next
        run goes on after them.
        """
        in_flight = self._batches.in_flight
        position = in_flight.sent_through
        if position is None:
            position = await self._start_position()
        if self._parking is not None:
            await self._parking.load()
        handled = 0
        reads = ReadAhead(self._read_after, position, self._batch_size)
        try:
            async with in_flight.settling(everything=settle):
                while not self._stop_requested():
                    records = await reads.next()
                    if not records:
                        break
                    handled += await self._batches.handle(records, position)
                    position = records[-1].position
        finally:
            await reads.close()
        return handled

    def _read_after(self, position: int) -> Awaitable[Sequence[EventRecord]]:
        return self._read_streams(self.streams, after_position=position, limit=self._batch_size)

    async def _start_position(self) -> int:
        if self._tail_next:
            position = await self._tail_end()
            self._tail_next = False
            return position
        if self._bookmark.known is not None:
            return self._bookmark.known
        position = await self._bookmark.read()
        if position == 0 and self._tail:
            return await self._tail_end()
        self._bookmark.known = position
        return position

    async def _tail_end(self) -> int:
        """Move the bookmark to the end of the streams (handling nothing before it)."""
        position = await self._backend.last_position(self.streams)
        await self._bookmark.save(position)
        return position

    def _guard(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    async def start(self) -> None:
        """Run the handler in the background until `stop()`.

        It takes the handler's lease (standing by while another runner holds
        it), catches up, then waits for new events: woken by the backend where
        it can push, else every `poll_interval` seconds. A failing run is
        retried from the failing event after a growing delay.
        """
        if self.running:
            raise RuntimeError(f"handler {self.name!r} is already running")
        async with self._guard():
            await self._follow_live()
            self._tail_next = self._always_tail
            if await self._lease.acquire():
                # Fix where to start before returning, so no event appended after
                # start() returns can fall before a tailing handler's starting point.
                await self._reread_position()
                await self._start_position()
        self._stopping = False
        self._task = asyncio.get_running_loop().create_task(
            self._loop(), name=f"evtsrc handler {self.name}"
        )

    async def stop(self) -> None:
        """Stop the background loop after its current batch, wait for it, free the lease.

        A `run_once()` in progress also returns after its current batch.
        """
        task = self._task
        self._stopping = True
        try:
            if task is None:
                async with self._guard():  # let a run_once() in progress end its batch
                    return
            if self._waiting:
                task.cancel()
            await asyncio.wait([task])
        finally:
            self._task = None
            self._stopping = False
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

    def _stop_requested(self) -> bool:
        return self._stopping

    async def _pause(self, waiting: Awaitable[None]) -> None:
        """Wait (for new events, or to retry the lease); `stop()` cancels the wait."""
        self._waiting = True
        try:
            await waiting
        finally:
            self._waiting = False

    async def _loop(self) -> None:
        failures = 0
        listener: AppendListener = PollingListener()
        progress = Progress()
        try:
            listener = await self._setup.listen(f"handler {self.name}")
            while not self._stop_requested():
                delay = self._poll
                try:
                    if self.versioned:
                        async with self._guard():
                            await self._follow_live()
                    if not await self._lease.check():
                        self._batches.in_flight.abandon()  # the new holder sends them again
                        self._stand_by(progress)
                        if not await self._lease.acquire():
                            await self._pause(asyncio.sleep(self._standby))
                            continue
                        log.info(
                            "handler %s took its lease",
                            self.name,
                            extra=_telemetry.handler_ids(self.name),
                        )
                        await self._reread_position()
                    self._progress = progress  # holding the lease: waiters follow this loop
                    progress.starting()
                    await self._run(settle=False)
                    failures = 0
                except Exception as error:
                    failures += 1
                    self.last_error = error
                    delay = min(self._poll * 2**failures, MAX_FAILURE_BACKOFF)
                    log.exception(
                        "handler %s failed; retrying in %.1f s",
                        self.name,
                        delay,
                        extra=_telemetry.handler_ids(self.name, error=error),
                    )
                progress.ended()
                if self._stop_requested():
                    break
                heard = functools.partial(self._heard, listener, delay)
                # A failing run waits out its backoff: a waiter's nudge would retry it at once.
                await self._pause(listener.wait(delay) if failures else progress.pause(heard))
        finally:
            self._stand_by(progress)
            await self._settle_in_flight()
            with contextlib.suppress(Exception):
                await listener.close()
            await self._lease.release()

    async def _heard(self, listener: AppendListener, delay: float) -> None:
        """Wait for new events (at most `delay` seconds), or for a batch in flight.

        The oldest one done, the bookmark moves past it.
        """
        oldest = self._batches.in_flight.oldest()
        if oldest is None:
            await listener.wait(delay)
            return
        heard = asyncio.ensure_future(listener.wait(delay))
        try:
            await asyncio.wait((heard, oldest), return_when=asyncio.FIRST_COMPLETED)
        finally:
            heard.cancel()
            await asyncio.wait((heard,))
        if not heard.cancelled():
            heard.result()  # a listener's failure ends the loop

    async def _settle_in_flight(self) -> None:
        """As the loop ends: move the bookmark past the batches in flight once done."""
        try:
            async with self._guard():
                await self._batches.in_flight.settle()
        except Exception:
            log.exception(
                "handler %s: batches in flight failed as it stopped",
                self.name,
                extra=_telemetry.handler_ids(self.name),
            )

    def _stand_by(self, progress: Progress) -> None:
        """Waiters read the stored bookmark from now on, and those waiting look again.

        Nor does this process report a lag for the handler any longer.
        """
        self._progress = None
        progress.ended()
        recorder = _telemetry.active
        if recorder is not None:
            recorder.forget_lag(self.name, None)
