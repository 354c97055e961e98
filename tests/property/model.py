"""Aggregates for the property tests: a tally with rich state, and snapshotting variants."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal, NewType
from uuid import UUID

import attrs

from evtsrc import Aggregate, Event, EventMeta, Snapshots, command, folds
from examples.blog.users import User

Label = NewType("Label", str)


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@attrs.frozen
class Point:
    x: int
    y: float


class Added(Event, type_name="tally.added"):
    amount: int


class Renamed(Event, type_name="tally.renamed"):
    label: str


class Noted(Event, type_name="tally.noted"):
    """Every kind of field the strategies generate values for."""

    text: str
    number: int
    ratio: float
    flag: bool
    raw: bytes
    price: Decimal
    at: datetime
    day: date
    ident: UUID
    color: Color
    kind: Literal["a", "b"]
    maybe: int | None
    tags: tuple[str, ...]
    pair: tuple[int, str]
    points: list[Point]
    numbers: Sequence[int]
    ids: frozenset[int]
    names: set[str]
    counts: dict[str, int]
    by_name: Mapping[str, Point]
    point: Point
    label: Label
    size: Annotated[int, "bytes"]
    positive: int = attrs.field(default=1, validator=attrs.validators.ge(0))


class Tally(Aggregate, stream="tallies"):
    total: int = 0
    amounts: list[int] = attrs.Factory(list[int])
    label: str = ""
    last_note: Noted | None = None
    changed_at: datetime | None = None
    changed_in: int = 0

    @folds
    def _added(self, event: Added, meta: EventMeta) -> None:
        self.total += event.amount
        self.amounts.append(event.amount)
        self.changed_at = meta.timestamp
        self.changed_in = meta.version

    @folds
    def _renamed(self, event: Renamed) -> None:
        self.label = event.label

    @folds
    def _noted(self, event: Noted) -> None:
        self.last_note = event

    @command
    def add(self, amount: int) -> Added:
        return Added(amount=amount)

    @command
    def add_many(self, amounts: list[int]) -> list[Added]:
        return [Added(amount=amount) for amount in amounts]

    @command
    async def slow_add(self, amount: int) -> Added:
        await asyncio.sleep(0)  # lets concurrent commands load the same version
        return Added(amount=amount)

    @command
    def rename(self, label: str) -> Renamed | None:
        return None if label == self.label else Renamed(label=label)

    @command
    def note(self, note: Noted) -> Noted:
        return note


class SnapTally(Tally, stream="snap-tallies", snapshots=Snapshots(every=3)):
    """Tally, storing a snapshot whenever a command crosses a multiple of 3 events."""


class FullTally(Tally, stream="snap-tallies"):
    """Reads SnapTally's stream without snapshots: always a full fold (use in its own domain)."""


class SnapUser(User, stream="users", snapshots=Snapshots(every=2)):
    """The blog's User on its own stream, with snapshots (use in its own domain)."""
