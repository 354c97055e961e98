"""The scenarios on evtsrc: an account aggregate, a deposits handler, and S1-S3."""

from __future__ import annotations

import statistics

from bench.common import Measured, Sizes, clock
from evtsrc import (
    Aggregate,
    CommandError,
    Domain,
    Event,
    EventHandler,
    EventMeta,
    command,
    folds,
    on_event,
)
from evtsrc.backends.base import Backend


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


class DepositTotal(EventHandler, name="deposit-total"):
    def __init__(self) -> None:
        self.total = 0

    @on_event
    def deposited(self, event: Deposited, meta: EventMeta) -> None:
        self.total += event.amount


async def make_backend(kind: str, target: str) -> Backend:
    """A backend with its schema: `target` is a SQLite path or a PostgreSQL DSN."""
    if kind == "memory":
        from evtsrc.backends import InMemoryBackend

        return InMemoryBackend()
    backend: Backend
    if kind == "sqlite":
        from evtsrc.backends.sqlalchemy import SqlAlchemyBackend

        sql = SqlAlchemyBackend(f"sqlite+aiosqlite:///{target}")
        await sql.create_schema()
        backend = sql
    elif kind == "postgres":
        from evtsrc.backends.postgres import PostgresBackend

        pg = await PostgresBackend.connect(target)
        await pg.create_schema()
        backend = pg
    else:
        raise ValueError(f"unknown evtsrc backend {kind!r}")
    return backend


async def s1(domain: Domain, sizes: Sizes) -> Measured:
    """Open each account, then 9 deposits, sequentially."""
    accounts = domain.repository(Account)
    start = clock()
    for i in range(sizes.s1_accounts):
        account_id = f"acc-{i}"
        await accounts.execute(account_id, Account.open, owner="o")
        for _ in range(9):
            await accounts.execute(account_id, Account.deposit, amount=1)
    return Measured(sizes.s1_accounts * 10, clock() - start)


async def s2(domain: Domain, sizes: Sizes) -> Measured:
    """Median load time of one account with `s2_events` events."""
    accounts = domain.repository(Account)
    remaining = sizes.s2_events - 1
    await accounts.execute("big", Account.seed, owner="o", deposits=min(remaining, 999))
    remaining -= min(remaining, 999)
    while remaining:
        step = min(remaining, 1000)
        await accounts.execute("big", Account.seed_more, deposits=step)
        remaining -= step
    times = []
    for _ in range(sizes.s2_loads):
        start = clock()
        account = await accounts.load("big")
        times.append(clock() - start)
        assert account.version == sizes.s2_events, account.version
    return Measured(sizes.s2_events, statistics.median(times))


async def s3(domain: Domain, sizes: Sizes) -> Measured:
    """A fresh handler summing deposits catches up on `s3_accounts` x 10 events."""
    accounts = domain.repository(Account)
    for i in range(sizes.s3_accounts):
        await accounts.execute(f"acc-{i}", Account.seed, owner="o", deposits=9)
    runner = domain.handler(DepositTotal())
    start = clock()
    await runner.run_once()
    elapsed = clock() - start
    assert runner.handler.total == sizes.s3_accounts * 9, runner.handler.total
    return Measured(sizes.s3_accounts * 10, elapsed)


SCENARIOS = {"S1": s1, "S2": s2, "S3": s3}


async def run(backend_kind: str, target: str, scenario: str, sizes: Sizes) -> Measured:
    """Run one scenario on a fresh domain over the given store."""
    domain = Domain(await make_backend(backend_kind, target), aggregates=[Account])
    try:
        return await SCENARIOS[scenario](domain, sizes)
    finally:
        await domain.close()
