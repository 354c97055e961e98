"""The scenarios on the `eventsourcing` library (9.5.6), written as its docs show.

An `Aggregate` with `@event` methods, an `Application` whose methods load, decide and
save, and for S3 a `ProcessApplication` that follows the bank application: its `policy`
sums deposits and each processed event's tracking record (the bookmark) is written to
the follower's process recorder in the same database. Every setting is the library's
default (no snapshots, no aggregate cache, `pull_section_size` 10).
"""

from __future__ import annotations

import statistics
from functools import singledispatchmethod
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import Aggregate, event
from eventsourcing.system import ProcessApplication

from bench.common import Measured, Sizes, clock


class AccountClosedError(Exception):
    """A deposit to an account that is not open."""


class Account(Aggregate):
    @event("Opened")
    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.is_open = True
        self.balance = 0

    def deposit(self, amount: int) -> None:
        if not self.is_open:
            raise AccountClosedError(self.id)
        self._deposited(amount)

    @event("Deposited")
    def _deposited(self, amount: int) -> None:
        self.balance += amount


class Bank(Application[UUID]):
    def open(self, owner: str) -> UUID:
        account = Account(owner)
        self.save(account)
        return account.id

    def deposit(self, account_id: UUID, amount: int) -> None:
        account: Account = self.repository.get(account_id)
        account.deposit(amount)
        self.save(account)


class DepositTotals(ProcessApplication[UUID]):
    total = 0

    @singledispatchmethod
    def policy(self, domain_event: Any, processing_event: ProcessingEvent[UUID]) -> None:
        """Other events: only the tracking record is written."""

    @policy.register
    def _(self, domain_event: Account.Deposited, processing_event: ProcessingEvent[UUID]) -> None:  # type: ignore[name-defined]
        self.total += domain_event.amount


def environment(backend: str, target: str) -> dict[str, str]:
    """The library's settings for a backend: `target` is a SQLite path or a PostgreSQL DSN."""
    if backend == "memory":
        return {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    if backend == "sqlite":
        return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": target}
    if backend == "postgres":
        url = urlsplit(target)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": url.path.lstrip("/"),
            "POSTGRES_HOST": url.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(url.port or 5432),
            "POSTGRES_USER": url.username or "postgres",
            "POSTGRES_PASSWORD": url.password or "",
        }
    raise ValueError(f"unknown eventsourcing backend {backend!r}")


def s1(env: dict[str, str], sizes: Sizes) -> Measured:
    """Open each account, then 9 deposits, sequentially."""
    bank = Bank(env=env)
    try:
        start = clock()
        for _ in range(sizes.s1_accounts):
            account_id = bank.open("o")
            for _ in range(9):
                bank.deposit(account_id, 1)
        return Measured(sizes.s1_accounts * 10, clock() - start)
    finally:
        bank.close()


def s2(env: dict[str, str], sizes: Sizes) -> Measured:
    """Median load time of one account with `s2_events` events."""
    bank = Bank(env=env)
    try:
        account = Account("o")
        for _ in range(sizes.s2_events - 1):
            account.deposit(1)
        bank.save(account)
        times = []
        for _ in range(sizes.s2_loads):
            start = clock()
            loaded: Account = bank.repository.get(account.id)
            times.append(clock() - start)
            assert loaded.version == sizes.s2_events, loaded.version
        return Measured(sizes.s2_events, statistics.median(times))
    finally:
        bank.close()


def s3(env: dict[str, str], sizes: Sizes) -> Measured:
    """A fresh follower summing deposits catches up on `s3_accounts` x 10 events."""
    bank = Bank(env=env)
    totals = DepositTotals(env=env)
    try:
        batch: list[Account] = []
        for _ in range(sizes.s3_accounts):
            account = Account("o")
            for _ in range(9):
                account.deposit(1)
            batch.append(account)
            if len(batch) == 500:
                bank.save(*batch)
                batch.clear()
        bank.save(*batch)
        totals.follow(bank.name, bank.notification_log)
        start = clock()
        totals.pull_and_process(bank.name)
        elapsed = clock() - start
        assert totals.total == sizes.s3_accounts * 9, totals.total
        return Measured(sizes.s3_accounts * 10, elapsed)
    finally:
        totals.close()
        bank.close()


SCENARIOS = {"S1": s1, "S2": s2, "S3": s3}


def run(backend: str, target: str, scenario: str, sizes: Sizes) -> Measured:
    """Run one scenario on fresh applications over the given store."""
    return SCENARIOS[scenario](environment(backend, target), sizes)
