"""A ledger whose balances read model can be rebuilt blue/green with the `evtsrc` command.

The balances live in the SQLite store beside the events, one table per version of the
read model (`balances_v1`, `balances_v2`, ...), each written in the transaction that
moves its bookmark. Try it (`pip install -e '.[cli]'`):

    python -m examples.ledger ledger.sqlite 2000     # open accounts, deposit, build v1
    export EVTSRC_URL=sqlite:///ledger.sqlite EVTSRC_APP=examples.ledger:make_domain
    evtsrc status
    evtsrc rebuild balances --blue-green --swap      # build v2 beside v1, make it live
    evtsrc drop balances 1                           # drop v1's table
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys

from evtsrc import (
    Aggregate,
    Domain,
    Event,
    EventMeta,
    HandlerRunner,
    TransactionalHandler,
    command,
    folds,
    on_event,
)
from evtsrc.backends import Backend, SqliteBackend


class Deposited(Event, type_name="ledger.deposited"):
    amount: int


class Withdrawn(Event, type_name="ledger.withdrawn"):
    amount: int


class Account(Aggregate, stream="ledger-accounts"):
    balance: int = 0

    @folds
    def _deposited(self, event: Deposited) -> None:
        self.balance += event.amount

    @folds
    def _withdrawn(self, event: Withdrawn) -> None:
        self.balance -= event.amount

    @command
    def deposit(self, amount: int) -> Deposited:
        return Deposited(amount)

    @command
    def withdraw(self, amount: int) -> Withdrawn:
        return Withdrawn(amount)


class Balances(TransactionalHandler[sqlite3.Connection], name="balances"):
    """Each account's balance, in the table of the version being built."""

    @property
    def table(self) -> str:
        return f"balances_v{self.version}"

    async def before_batch(self, events: object) -> None:
        self.connection.execute(
            f"CREATE TABLE IF NOT EXISTS {self.table} (account TEXT PRIMARY KEY, balance INTEGER)"
        )

    @on_event
    def deposited(self, event: Deposited, meta: EventMeta) -> None:
        self._add(meta.aggregate_id, event.amount)

    @on_event
    def withdrawn(self, event: Withdrawn, meta: EventMeta) -> None:
        self._add(meta.aggregate_id, -event.amount)

    def _add(self, account: str, amount: int) -> None:
        self.connection.execute(
            f"INSERT INTO {self.table} VALUES (?, ?) "
            "ON CONFLICT (account) DO UPDATE SET balance = balance + excluded.balance",
            (account, amount),
        )

    async def on_reset(self) -> None:
        self.connection.execute(f"DROP TABLE IF EXISTS {self.table}")

    async def on_drop(self) -> None:
        self.connection.execute(f"DROP TABLE IF EXISTS {self.table}")


def make_domain(backend: Backend) -> Domain:
    """The ledger over `backend` (a `SqliteBackend`), its balances bound versioned."""
    domain = Domain(backend, aggregates=[Account])
    domain.handler(Balances(), versioned=True)
    return domain


def balances_runner(domain: Domain) -> HandlerRunner[Balances]:
    """The balances' runner bound by `make_domain`."""
    for bound in domain.handlers:
        if isinstance(bound, HandlerRunner) and isinstance(bound.handler, Balances):
            return bound  # type: ignore[return-value]
    raise LookupError("the domain has no balances handler")


async def seed(path: str, deposits: int) -> None:
    """Make ten accounts and `deposits` deposits among them, then build the balances."""
    async with SqliteBackend(path) as backend:
        await backend.create_schema()
        domain = make_domain(backend)
        accounts = domain.repository(Account)
        for i in range(deposits):
            await accounts.execute(f"account-{i % 10}", Account.deposit, amount=i % 7 + 1)
        await balances_runner(domain).run_once()


if __name__ == "__main__":
    asyncio.run(seed(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1000))
