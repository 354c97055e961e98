"""The domain the conformance suite drives: evtstore's one/two/three/multi/version/throw."""

from __future__ import annotations

import asyncio
import enum
from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

from evtsrc import (
    Aggregate,
    CommandError,
    Event,
    EventHandler,
    EventMeta,
    Snapshots,
    command,
    folds,
    on_event,
)


class One(Event, type_name="one"):
    pass


class Two(Event, type_name="two"):
    pass


class Three(Event, type_name="three"):
    pass


class Multi(Event, type_name="multi"):
    pass


class VersionSeen(Event, type_name="version-seen"):
    version: int


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Address(Event, type_name="address"):
    street: str
    city: str


class Rich(Event, type_name="rich"):
    """Every kind of value users put in events, for the round-trip test."""

    text: str
    number: int
    ratio: float
    flag: bool
    amount: Decimal
    at: datetime
    day: date
    key: UUID
    colour: Colour
    tags: tuple[str, ...]
    scores: list[int]
    note: str | None
    home: Address


class Counter(Aggregate, stream="counters"):
    one: int = 0
    two: int = 0
    three: int = 0
    multi: int = 0
    seen_version: int = -1
    folded_position: int = 0
    rich: Rich | None = None

    @folds
    def _one(self, event: One, meta: EventMeta) -> None:
        self.one += 1
        self.folded_position = meta.position

    @folds
    def _two_or_three(self, event: Two | Three) -> None:
        if isinstance(event, Two):
            self.two += 1
        else:
            self.three += 1

    @folds
    def _multi(self, event: Multi) -> None:
        self.multi += 1

    @folds
    def _version(self, event: VersionSeen) -> None:
        self.seen_version = event.version

    @folds
    def _rich(self, event: Rich) -> None:
        self.rich = event

    @command
    def do_one(self) -> One:
        return One()

    @command
    def do_two(self) -> Two:
        return Two()

    @command
    def do_three(self) -> Three:
        return Three()

    @command
    def do_multi(self) -> list[Multi]:
        return [Multi(), Multi()]

    @command
    def do_version(self) -> VersionSeen:
        return VersionSeen(version=self.version)

    @command
    def do_throw(self) -> None:
        raise CommandError("refused on purpose", code="THROWN")

    @command
    def do_nothing(self) -> None:
        return None

    @command
    def do_rich(self, event: Rich) -> Rich:
        return event

    @command
    async def do_one_slowly(self) -> One:
        await asyncio.sleep(0)
        return One()


class Ledger(Aggregate, stream="ledgers"):
    """A second stream, for multi-stream handlers."""

    entries: int = 0

    @folds
    def _entry(self, event: Address) -> None:
        self.entries += 1

    @command
    def record(self, street: str) -> Address:
        return Address(street=street, city="Springfield")


class SnapshotCounter(Counter, stream="snap-counters", snapshots=Snapshots(every=1)):
    """Counter with snapshots on."""


class Seen(EventHandler, name="seen"):
    """Records every event of both streams it is given, with its meta."""

    def __init__(self, fail_on: set[int] | None = None) -> None:
        self.log: list[tuple[str, str, int, str]] = []
        self.fail_on = fail_on or set()
        self.errors: list[tuple[int, str]] = []
        self.batches: list[tuple[str, int]] = []

    def _record(self, event: Event, meta: EventMeta) -> None:
        if meta.position in self.fail_on:
            raise RuntimeError(f"cannot handle position {meta.position}")
        self.log.append((meta.stream, meta.aggregate_id, meta.position, meta.type_name))

    @on_event
    def counted(self, event: One | Two | Three | Multi, meta: EventMeta) -> None:
        self._record(event, meta)

    @on_event
    async def addressed(self, event: Address, meta: EventMeta) -> None:
        await asyncio.sleep(0)
        self._record(event, meta)

    async def on_error(self, error: Exception, event: Event | None, meta: EventMeta) -> None:
        self.errors.append((meta.position, str(error)))

    async def before_batch(self, events: object) -> None:
        self.batches.append(("before", len(self.log)))

    async def after_batch(self, events: object) -> None:
        self.batches.append(("after", len(self.log)))


class OnlyCounters(Seen, name="only-counters", streams=["counters"]):
    """The same callbacks, limited to one stream."""
