"""Handler runners are typed by their handler; callbacks and hooks keep their types.

Every callback form `@on_event` accepts type-checks: sync or async, with or
without `meta`, for an event class, a union of them or a base class.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Sequence
from typing import assert_type

from evtsrc import (
    Aggregate,
    BookmarkMoved,
    Domain,
    Event,
    EventHandler,
    EventMeta,
    HandlerGroup,
    HandlerRunner,
    RetryPolicy,
    StoredEvent,
    TransactionalHandler,
    command,
    folds,
    on_event,
)
from evtsrc.backends import (
    Bucket,
    FencedBookmarks,
    GroupMembers,
    InMemoryBackend,
    InMemoryBookmarks,
    ParkedAggregate,
    bucket_key,
)
from tests.typing.model import (
    Post,
    PostCounter,
    PostCreated,
    User,
    UserCreated,
    UserRenamed,
    make_domain,
)


class Audit(EventHandler, name="typing-audit"):
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.batches = 0

    @on_event
    async def _post(self, event: PostCreated, meta: EventMeta) -> None:
        self.lines.append(f"{meta.position}: {event.content}")

    async def before_batch(self, events: Sequence[StoredEvent[Event]]) -> None:
        self.batches += 1

    async def after_batch(self, events: Sequence[StoredEvent[Event]]) -> Awaitable[None] | None:
        # What it returns is awaited before the bookmark moves past the batch.
        return asyncio.sleep(0) if events else None

    async def on_error(self, error: Exception, event: Event | None, meta: EventMeta) -> None:
        self.lines.append(f"failed: {error!r}")

    async def on_reset(self) -> None:
        self.lines.clear()


class Shipment(Event):
    """A base class: a callback taking it takes every event class derived from it."""


class Shipped(Shipment, type_name="typing.parcel.shipped"):
    carrier: str


class Returned(Shipment, type_name="typing.parcel.returned"):
    pass


class Parcel(Aggregate, stream="typing-parcels"):
    shipped: bool = False

    @folds
    def _shipped(self, event: Shipped) -> None:
        self.shipped = True

    @folds
    def _returned(self, event: Returned) -> None:
        self.shipped = False

    @command
    def ship(self, carrier: str) -> Shipped:
        return Shipped(carrier=carrier)

    @command
    def give_back(self) -> Returned:
        return Returned()


class Forms(EventHandler, name="typing-forms"):
    """Sync without meta, async with it."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    @on_event
    def shipped(self, event: Shipped) -> None:
        self.seen.append(event.carrier)

    @on_event
    async def returned(self, event: Returned, meta: EventMeta) -> None:
        self.seen.append(f"returned@{meta.version}")


class Unions(EventHandler, name="typing-unions"):
    """Sync with meta, async without; a union of event classes; positional-only."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    @on_event
    def either(self, event: Shipped | Returned, meta: EventMeta, /) -> None:
        self.seen.append(type(event).__name__)

    @on_event
    async def user(self, event: UserCreated | UserRenamed) -> None:
        self.seen.append(event.name)


class Bases(EventHandler, name="typing-bases"):
    """A base event class, in a handler that inherits a callback too."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    @on_event
    async def any_shipment(self, event: Shipment) -> None:
        self.seen.append(type(event).__name__)


class MoreBases(Bases, name="typing-more-bases"):
    @on_event
    def post(self, event: PostCreated, meta: EventMeta) -> None:
        self.seen.append(meta.aggregate_id)


class Positions(EventHandler, name="typing-positions", reads_metadata=False):
    """Declared to read no event ids or metadata: its meta still has the rest."""

    def __init__(self) -> None:
        self.highest = 0

    @on_event
    def post(self, event: PostCreated, meta: EventMeta) -> None:
        self.highest = max(self.highest, meta.position)


class InTransaction(TransactionalHandler[object], name="typing-transactional"):
    @on_event
    async def shipped(self, event: Shipped, meta: EventMeta) -> None:
        pass


async def callbacks(meta: EventMeta) -> None:
    """Callbacks stay callable as the methods they are."""
    forms = Forms()
    assert_type(forms.shipped(Shipped(carrier="ups")), None)
    assert_type(await forms.returned(Returned(), meta), None)
    assert_type(Unions().either(Returned(), meta), None)
    assert_type(await Bases().any_shipment(Returned()), None)
    assert_type(MoreBases().post(PostCreated(user_id="u", content="c"), meta), None)
    assert forms.seen == ["ups", f"returned@{meta.version}"]


async def every_form() -> None:
    domain = Domain(InMemoryBackend(), aggregates=[Parcel, User, Post])
    await domain.repository(Parcel).execute("p1", Parcel.ship, carrier="dhl")
    await domain.repository(Parcel).execute("p1", Parcel.give_back)
    await domain.repository(User).execute("u1", User.create, name="Ann")
    await domain.repository(Post).execute("x", Post.create, user_id="u1", content="Hi")
    forms, unions, bases, more = Forms(), Unions(), Bases(), MoreBases()
    for handler in (forms, unions, bases, more):
        await domain.handler(handler, bookmarks=InMemoryBookmarks()).run_once()
    assert forms.seen == ["dhl", "returned@2"]
    assert unions.seen == ["Shipped", "Returned", "Ann"]
    assert bases.seen == ["Shipped", "Returned"]
    assert more.seen == ["Shipped", "Returned", "x"]
    first = (await domain.repository(Parcel).history("p1"))[0]
    await callbacks(first.meta)
    await domain.close()


async def runners(domain: Domain) -> None:
    counter = domain.handler(PostCounter())
    assert_type(counter, HandlerRunner[PostCounter])
    assert_type(counter.handler, PostCounter)
    assert_type(counter.handler.archived, list[str])
    assert_type(counter.name, str)
    assert_type(counter.streams, tuple[str, ...])
    assert_type(await counter.run_once(), int)
    assert_type(await counter.position(), int)
    assert_type(counter.running, bool)
    assert_type(counter.last_error, BaseException | None)

    audit = domain.handler(
        Audit(),
        bookmarks=InMemoryBookmarks(),
        tail_stream=True,
        continue_on_error=True,
        retry=RetryPolicy(attempts=2, backoff=0.0),
    )
    assert_type(audit.handler.lines, list[str])
    await audit.set_position(0)
    await audit.reset()
    await audit.start()
    await audit.stop()


def generic(runner: HandlerRunner[EventHandler]) -> str:
    return runner.name


class DictBookmarks:
    """A bookmark store of one's own that runners move by compare-and-set."""

    def __init__(self) -> None:
        self.positions: dict[str, int] = {}

    async def get_bookmark(self, name: str) -> int:
        return self.positions.get(name, 0)

    async def set_bookmark(self, name: str, position: int) -> None:
        self.positions[name] = position

    async def move_bookmark(self, name: str, expected: int, position: int) -> None:
        if self.positions.get(name, 0) != expected:
            raise BookmarkMoved(name, expected, self.positions.get(name))
        self.positions[name] = position


async def fenced(domain: Domain) -> None:
    store = DictBookmarks()
    as_fenced: FencedBookmarks = store
    assert isinstance(store, FencedBookmarks)
    assert_type(await as_fenced.move_bookmark("elsewhere", 0, 3), None)
    assert_type(await InMemoryBookmarks().move_bookmark("h", 0, 1), None)
    runner = domain.handler(PostCounter(), bookmarks=store)
    assert await runner.run_once() == 1
    assert store.positions[runner.name] == await runner.position() > 0


async def parking(domain: Domain) -> None:
    runner = domain.handler(PostCounter(), park=True, retry=RetryPolicy(attempts=2))
    assert_type(await runner.parked(), list[ParkedAggregate])
    assert await runner.run_once() >= 0
    for parked in await runner.parked():
        assert_type(parked.error, str)
        assert_type(await runner.retry_parked(parked.stream, parked.aggregate_id), int)
    with contextlib.suppress(LookupError):  # nothing of it is parked
        assert_type(await runner.discard_parked("posts", "none"), None)


async def groups(domain: Domain) -> None:
    group = domain.handler_group(PostCounter(), buckets=4, concurrency=2, member_ttl=0.3)
    assert_type(group, HandlerGroup[PostCounter])
    assert_type(group.handler, PostCounter)
    assert_type(group.held, tuple[int, ...])
    assert_type(await group.positions(), dict[int, int])
    await group.start()
    await group.wait_for(0, timeout=1)
    await group.stop()
    parking = domain.handler_group(PostCounter(), buckets=2, park=True, retry=RetryPolicy())
    assert_type(await parking.parked(), list[ParkedAggregate])
    with contextlib.suppress(LookupError):
        assert_type(await parking.retry_parked("posts", "none"), int)
    assert_type(bucket_key("p"), int)
    assert Bucket(bucket_key("p") % 4, 4).holds("p")
    members: GroupMembers = InMemoryBookmarks()
    assert_type(await members.beat("g", "m", 1.0), list[str])


async def main() -> None:
    domain = make_domain(InMemoryBackend())
    await domain.repository(User).execute("alice", User.create, name="Alice")
    await domain.repository(Post).execute("p", Post.create, user_id="alice", content="Hi")
    await runners(domain)
    await groups(domain)
    await fenced(domain)
    await parking(domain)
    assert generic(domain.handler(Audit())) == "typing-audit"
    positions = domain.handler(Positions())
    assert await positions.run_once() == 1
    assert_type(positions.handler.highest, int)
    assert positions.handler.highest == await positions.position()
    await domain.close()
    await every_form()
