"""The account model on evtsrc: events, the aggregate (with and without snapshots), handlers."""

from __future__ import annotations

import asyncio
import inspect
import types

from bench.common import SNAPSHOT_EVERY, clock
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


class Opened(Event, type_name="account.opened"):
    owner: str


class Deposited(Event, type_name="account.deposited"):
    amount: int


class Account(Aggregate, stream="accounts"):
    is_open: bool = False
    balance: int = 0

    @folds
    def _opened(self, event: Opened) -> None:
        self.is_open = True

    @folds
    def _deposited(self, event: Deposited) -> None:
        self.balance += event.amount

    @command
    def open(self, owner: str) -> Opened:
        return Opened(owner=owner)

    @command
    def deposit(self, amount: int) -> Deposited:
        if not self.is_open:
            raise CommandError("Account is not open", code="NOT_OPEN")
        return Deposited(amount=amount)

    @command
    def seed(self, owner: str, deposits: int) -> list[Opened | Deposited]:
        """Setup only: open and deposit `deposits` times in one append."""
        return [Opened(owner=owner), *(Deposited(amount=1) for _ in range(deposits))]

    @command
    def seed_more(self, deposits: int) -> list[Deposited]:
        """Setup only: deposit `deposits` times in one append."""
        return [Deposited(amount=1) for _ in range(deposits)]


class SnapshotAccount(
    Account, stream="snapshot-accounts", snapshots=Snapshots(every=SNAPSHOT_EVERY)
):
    """The same account with snapshots: a command stores one every 100 events or more."""


_DECLARES = "reads_metadata" in inspect.signature(EventHandler.__init_subclass__).parameters
READS_NO_METADATA: dict[str, bool] = {"reads_metadata": False} if _DECLARES else {}
"""How a handler that reads no event ids or metadata says so; nothing for an evtsrc from
before the option (`bench.compare` runs those too)."""
READS_METADATA: dict[str, bool] = {"reads_metadata": True} if _DECLARES else {}


class DepositTotal(EventHandler, name="deposit-total", **READS_NO_METADATA):
    """S3's handler: sums deposits, remembering the highest position it was given.

    It reads no event ids or metadata, and says so, as its users would.
    """

    def __init__(self) -> None:
        self.total = 0
        self.highest = 0

    @on_event
    def deposited(self, event: Deposited, meta: EventMeta) -> None:
        self.total += event.amount
        self.highest = max(self.highest, meta.position)


class WholeDepositTotal(DepositTotal, name="deposit-total-whole", **READS_METADATA):
    """S3meta's handler: `DepositTotal` reading each event whole, ids and metadata too."""


class IOTotal(EventHandler, name="io-total", **READS_NO_METADATA):
    """S6's handler: each event waits `IO_SECONDS` as if it called a remote service."""

    def __init__(self) -> None:
        self.handled = 0

    @on_event
    async def opened(self, event: Opened) -> None:
        await asyncio.sleep(IO_SECONDS)
        self.handled += 1

    @on_event
    async def deposited(self, event: Deposited) -> None:
        await asyncio.sleep(IO_SECONDS)
        self.handled += 1


IO_SECONDS = 0.001


def io_total(name: str) -> IOTotal:
    """An `IOTotal` with a bookmark (and bucket bookmarks) of its own, named `name`."""
    cls = types.new_class(f"IOTotal_{name}", (IOTotal,), {"name": name})
    handler: IOTotal = cls()
    return handler


class DeliveryTimes(EventHandler, name="delivery-times"):
    """S5's handler: the clock reading at which each version of the account arrived."""

    def __init__(self) -> None:
        self.arrived: dict[int, float] = {}

    @on_event
    def opened(self, event: Opened, meta: EventMeta) -> None:
        self.arrived[meta.version] = clock()

    @on_event
    def deposited(self, event: Deposited, meta: EventMeta) -> None:
        self.arrived[meta.version] = clock()
