"""The application the `evtsrc` command's tests run against (`--app tests.cli.app:make_domain`).

Two aggregates (accounts, parcels); `ledger` parks (a deposit of 13 fails, unless
`LEDGER_TAKES_13` is set); `audit` is a plain runner; `shipping` a group of 3 buckets.
`seed(url, prefix)` writes a known store and runs the runners over part of it.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from evtsrc import (
    Aggregate,
    Domain,
    Event,
    EventHandler,
    HandlerRunner,
    command,
    folds,
    on_event,
)
from evtsrc.backends import Backend, NewEvent, TableNames, connect

UNLUCKY = 13
"""The amount `ledger` fails on."""


class Opened(Event, type_name="account.opened"):
    owner: str


class Deposited(Event, type_name="account.deposited"):
    amount: int


class Account(Aggregate, stream="accounts"):
    owner: str = ""
    balance: int = 0

    @folds
    def _opened(self, event: Opened) -> None:
        self.owner = event.owner

    @folds
    def _deposited(self, event: Deposited) -> None:
        self.balance += event.amount

    @command
    def open(self, owner: str) -> Opened:
        return Opened(owner=owner)

    @command
    def deposit(self, amount: int) -> Deposited:
        return Deposited(amount=amount)


class Shipped(Event, type_name="parcel.shipped"):
    to: str


class Parcel(Aggregate, stream="parcels"):
    to: str = ""

    @folds
    def _shipped(self, event: Shipped) -> None:
        self.to = event.to

    @command
    def ship(self, to: str) -> Shipped:
        return Shipped(to=to)


class Ledger(EventHandler, name="ledger"):
    @on_event
    def deposited(self, event: Deposited) -> None:
        if event.amount == UNLUCKY and not os.environ.get("LEDGER_TAKES_13"):
            raise ValueError(f"unlucky amount {UNLUCKY}")


class Audit(EventHandler, name="audit"):
    @on_event
    def seen(self, event: Opened | Shipped) -> None:
        pass


class Shipping(EventHandler, name="shipping"):
    @on_event
    def shipped(self, event: Shipped) -> None:
        pass


def make_domain(backend: Backend) -> Domain:
    """The application: its aggregates, and its handlers bound."""
    domain = Domain(backend, aggregates=[Account, Parcel])
    domain.handler(Ledger(), park=True)
    domain.handler(Audit())
    domain.handler_group(Shipping(), buckets=3)
    return domain


PARCELS = ("p1", "p2", "p3", "p4", "p5")


async def seed(url: str, prefix: str) -> dict[str, int]:
    """Write the store the tests read; the positions they expect, by name.

    a1 and a3 each deposit 13: `ledger` parks them. After the runners ran, a2 deposits
    4 and p5 ships (`ledger` is 1 behind, `audit` 2 plus the bad event), and p9's
    event has a payload `Shipped` cannot take (shown raw, with the error).
    """
    async with await connect(url, tables=TableNames(prefix)) as backend:
        await backend.create_schema()
        domain = make_domain(backend)
        accounts, parcels = domain.repository(Account), domain.repository(Parcel)
        await accounts.execute("a1", Account.open, owner="ann")
        await accounts.execute("a1", Account.deposit, amount=5)
        await accounts.execute("a1", Account.deposit, amount=UNLUCKY)
        await accounts.execute("a1", Account.deposit, amount=7)
        await accounts.execute("a2", Account.open, owner="bob")
        await accounts.execute("a2", Account.deposit, amount=2)
        await accounts.execute("a3", Account.open, owner="cy")
        await accounts.execute("a3", Account.deposit, amount=UNLUCKY)
        for parcel in PARCELS[:4]:
            await parcels.execute(parcel, Parcel.ship, to=f"{parcel} street")
        ledger, audit, _ = domain.handlers
        assert isinstance(ledger, HandlerRunner) and isinstance(audit, HandlerRunner)
        await ledger.run_once()
        await audit.run_once()
        await accounts.execute("a2", Account.deposit, amount=4)
        await parcels.execute("p5", Parcel.ship, to="p5 street")
        bad = NewEvent("parcel.shipped", {"to": 5}, datetime.now(UTC), metadata={"note": "bad"})
        await backend.append("parcels", "p9", 0, [bad])
        return {
            "ledger": await ledger.position(),
            "audit": await audit.position(),
            "accounts": await backend.last_position(["accounts"]),
            "all": await backend.last_position(["accounts", "parcels"]),
        }


async def drop(url: str, prefix: str) -> None:
    """Remove what `seed` made."""
    async with await connect(url, tables=TableNames(prefix)) as backend:
        await backend.drop_schema()
