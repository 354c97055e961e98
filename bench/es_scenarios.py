"""The scenarios on the `eventsourcing` library (9.5.6), written as its docs show.

An `Aggregate` with `@event` methods, an `Application` whose methods load, decide and
save, and for S3 a `ProcessApplication` that follows the bank application: its `policy`
sums deposits and each processed event's tracking record (the bookmark) is written to
the follower's process recorder in the same database. Every setting is the library's
default (no snapshots, no aggregate cache, `pull_section_size` 10, PostgreSQL pool of 5
plus 10 overflow) except where a scenario says otherwise: S2snap sets
`snapshotting_intervals`, and the "dbfn" variant sets POSTGRES_ENABLE_DB_FUNCTIONS=y
(inserts through the library's PL/pgSQL functions).
"""

from __future__ import annotations

import random
import statistics
import threading
import time
from collections.abc import Callable
from functools import partial, singledispatchmethod
from typing import Any, ClassVar
from urllib.parse import urlsplit
from uuid import UUID

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import Aggregate, MutableOrImmutableAggregate, event
from eventsourcing.projection import ApplicationSubscription
from eventsourcing.system import ProcessApplication

from bench.common import (
    SNAPSHOT_EVERY,
    Measured,
    Sizes,
    clock,
    growth,
    peer_sizes,
    push_latencies,
)

SEED_STEP = 1000
CACHE_SIZE = "1000"
"""`AGGREGATE_CACHE_MAXSIZE` of the "cache" variant: evtsrc's default cache size."""
SYNCHRONOUS = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


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

    def deposit(self, account_id: UUID, amount: int) -> int:
        account: Account = self.repository.get(account_id)
        account.deposit(amount)
        self.save(account)
        return account.version


class SnapshottingBank(Bank):
    snapshotting_intervals: ClassVar[dict[type[MutableOrImmutableAggregate[Any]], int]] = {
        Account: SNAPSHOT_EVERY
    }


class DepositTotals(ProcessApplication[UUID]):
    total: int = 0

    @singledispatchmethod
    def policy(self, domain_event: Any, processing_event: ProcessingEvent[UUID]) -> None:
        """Other events: only the tracking record is written."""

    @policy.register
    def _(self, domain_event: Account.Deposited, processing_event: ProcessingEvent[UUID]) -> None:  # type: ignore[name-defined]
        self.total += domain_event.amount


def environment(
    backend: str, target: str, *, db_functions: bool = False, cache: bool = False
) -> dict[str, str]:
    """The library's settings for a backend: `target` is a SQLite path or a PostgreSQL DSN.

    `cache` turns on the application's aggregate cache (off by default), as evtsrc's is.
    """
    if cache:
        return {
            **environment(backend, target, db_functions=db_functions),
            "AGGREGATE_CACHE_MAXSIZE": CACHE_SIZE,
        }
    if backend == "memory":
        return {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    if backend == "sqlite":
        return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": target}
    if backend == "postgres":
        url = urlsplit(target)
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": url.path.lstrip("/"),
            "POSTGRES_HOST": url.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(url.port or 5432),
            "POSTGRES_USER": url.username or "postgres",
            "POSTGRES_PASSWORD": url.password or "",
        }
        if db_functions:
            env["POSTGRES_ENABLE_DB_FUNCTIONS"] = "y"
        return env
    raise ValueError(f"unknown eventsourcing backend {backend!r}")


def seed(bank: Bank, events: int) -> Account:
    """Setup: an account with `events` events, saved in appends of up to 1000."""
    account = Account("o")
    pending = 1
    for _ in range(events - 1):
        account.deposit(1)
        pending += 1
        if pending == SEED_STEP:
            bank.save(account)
            pending = 0
    if pending:
        bank.save(account)
    return account


def median_load(bank: Bank, account_id: UUID, events: int, loads: int, *, warm: int = 0) -> float:
    """The median time of `loads` loads of the account after `warm` untimed ones; checked."""
    times: list[float] = []
    for i in range(warm + loads):
        start = clock()
        loaded: Account = bank.repository.get(account_id)
        if i >= warm:
            times.append(clock() - start)
        assert loaded.version == events, loaded.version
        assert loaded.balance == events - 1, loaded.balance
    return statistics.median(times)


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
        account = seed(bank, sizes.s2_events)
        seconds = median_load(bank, account.id, sizes.s2_events, sizes.s2_loads)
        return Measured(sizes.s2_events, seconds)
    finally:
        bank.close()


def s2snap(env: dict[str, str], sizes: Sizes) -> Measured:
    """Median load time of an account at each of `s2snap_events` events, with snapshots."""
    bank = SnapshottingBank(env=env)
    try:
        loads: dict[str, float] = {}
        seeding: dict[str, float] = {}
        ids: dict[int, UUID] = {}
        for events in sizes.s2snap_events:
            start = clock()
            ids[events] = seed(bank, events).id
            seeding[str(events)] = clock() - start
        for events, account_id in ids.items():
            loads[str(events)] = median_load(bank, account_id, events, sizes.s2_loads, warm=1)
        largest = loads[str(max(sizes.s2snap_events))]
        return Measured(1, largest, {"load_s": loads, "seed_s": seeding})
    finally:
        bank.close()


def s2grow(env: dict[str, str], sizes: Sizes) -> Measured:
    """Median load time of an account at each of `s2grow_events` events, up to the peer bound."""
    bank = Bank(env=env)
    try:
        seeding: dict[int, float] = {}
        ids: dict[int, UUID] = {}
        for events in peer_sizes(sizes.s2grow_events, sizes.grow_peer_max_events):
            start = clock()
            ids[events] = seed(bank, events).id
            seeding[events] = clock() - start
        loads = {
            events: median_load(bank, account_id, events, sizes.s2_loads, warm=1)
            for events, account_id in ids.items()
        }
        return growth(loads, seeding)
    finally:
        bank.close()


def save_accounts(bank: Bank, count: int) -> None:
    """Setup: `count` accounts of 10 events each, saved 500 accounts at a time."""
    batch: list[Account] = []
    for _ in range(count):
        account = Account("o")
        for _ in range(9):
            account.deposit(1)
        batch.append(account)
        if len(batch) == 500:
            bank.save(*batch)
            batch.clear()
    if batch:
        bank.save(*batch)


def s3(env: dict[str, str], sizes: Sizes) -> Measured:
    """A fresh follower summing deposits catches up on `s3_accounts` x 10 events."""
    bank = Bank(env=env)
    try:
        save_accounts(bank, sizes.s3_accounts)
        elapsed = _catch_up(env, bank, "", sizes.s3_accounts * 9)
        return Measured(sizes.s3_accounts * 10, elapsed)
    finally:
        bank.close()


def s3grow(env: dict[str, str], sizes: Sizes) -> Measured:
    """At each of `s3grow_events` events (up to the peer bound), a fresh follower catches up.

    The bank grows between sizes; each size's follower is an application of its own name
    following the bank from its first event. An untimed follower first catches up on the
    smallest size, so that it does not pay for a cold process.
    """
    bank = Bank(env=env)
    seconds: dict[int, float] = {}
    seeding: dict[int, float] = {}
    opened = 0
    try:
        for events in peer_sizes(sizes.s3grow_events, sizes.grow_peer_max_events):
            start = clock()
            save_accounts(bank, events // 10 - opened)
            opened = events // 10
            seeding[events] = clock() - start
            if not seconds:
                _catch_up(env, bank, "WarmUp", opened * 9)
            seconds[events] = _catch_up(env, bank, str(events), opened * 9)
        return growth(seconds, seeding)
    finally:
        bank.close()


def _catch_up(env: dict[str, str], bank: Bank, suffix: str, deposits: int) -> float:
    """A new follower (an application named after `suffix`) catches up on the bank: seconds.

    Checked: it summed `deposits` deposits.
    """
    follower = type(f"DepositTotals{suffix}", (DepositTotals,), {})
    totals: DepositTotals = follower(env=env)
    try:
        _forget_earlier_followers(totals, bank.name)
        totals.follow(bank.name, bank.notification_log)
        start = clock()
        totals.pull_and_process(bank.name)
        elapsed = clock() - start
        assert totals.total == deposits, (totals.total, deposits)
        return elapsed
    finally:
        totals.close()


def _forget_earlier_followers(totals: DepositTotals, upstream: str) -> None:
    """Setup: a new follower starts from the upstream application's first event.

    On SQLite every application's tracking shares one table (`tracking`), keyed by the
    upstream application, so a new follower would start where the last one stopped.
    """
    recorder: Any = totals.recorder
    if recorder.max_tracking_id(upstream) is None:
        return
    with recorder.datastore.transaction(commit=True) as cursor:
        cursor.execute("DELETE FROM tracking WHERE application_name = ?", (upstream,))
    assert recorder.max_tracking_id(upstream) is None


def s4(env: dict[str, str], sizes: Sizes) -> Measured:
    """`s4_writers` threads on one application, each depositing on its own account."""
    bank = Bank(env=env)
    try:
        ids = [bank.open("o") for _ in range(sizes.s4_writers)]
        ready = threading.Barrier(len(ids) + 1)
        errors: list[BaseException] = []

        def write(account_id: UUID) -> None:
            ready.wait()
            try:
                for _ in range(sizes.s4_deposits):
                    bank.deposit(account_id, 1)
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=write, args=(i,)) for i in ids]
        for thread in threads:
            thread.start()
        ready.wait()
        start = clock()
        for thread in threads:
            thread.join()
        elapsed = clock() - start
        if errors:
            raise errors[0]
        for account_id in ids:
            assert bank.repository.get(account_id).version == sizes.s4_deposits + 1
        return Measured(len(ids) * sizes.s4_deposits, elapsed)
    finally:
        bank.close()


def _until(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = clock() + seconds
    while not condition():
        if clock() > deadline:
            return False
        time.sleep(0.001)
    return True


def s5(env: dict[str, str], sizes: Sizes) -> Measured:
    """Commit-to-delivery latency through the library's push (`ApplicationSubscription`)."""
    bank = Bank(env=env)
    arrived: dict[int, float] = {}
    try:
        account_id = bank.open("o")
        with ApplicationSubscription(bank, gt=None) as subscription:

            def follow() -> None:
                for domain_event, _ in subscription:
                    arrived[domain_event.originator_version] = clock()

            follower = threading.Thread(target=follow, daemon=True)
            follower.start()
            assert _until(lambda: 1 in arrived, 10), "subscription never pulled"
            for _ in range(20):  # warm-up: its LISTEN thread starts on its own
                version = bank.deposit(account_id, 1)
                if _until(partial(arrived.__contains__, version), 0.5):
                    break
            else:
                raise AssertionError("no notification arrived within 0.5 s in 20 tries")
            committed: dict[int, float] = {}
            low, high = sizes.s5_gap_ms
            start = clock()
            for _ in range(sizes.s5_appends):
                version = bank.deposit(account_id, 1)
                committed[version] = clock()
                time.sleep(random.uniform(low, high) / 1000)
            elapsed = clock() - start
            assert _until(lambda: max(committed) in arrived, 10), "undelivered"
        follower.join(5)
    finally:
        bank.close()
    return push_latencies(committed, arrived, elapsed)


def sqlite_settings(env: dict[str, str]) -> dict[str, str]:
    """The journal mode and synchronous level of the library's SQLite connections.

    The library sets WAL on its first connection and leaves `synchronous` at SQLite's
    default, so a new application's connection reports what the measured one ran with.
    """
    bank = Bank(env=env)
    try:
        datastore: Any = getattr(bank.recorder, "datastore")  # noqa: B009
        with datastore.transaction(commit=False) as cursor:
            cursor.execute("PRAGMA journal_mode")
            mode = cursor.fetchone()[0]
            cursor.execute("PRAGMA synchronous")
            level = cursor.fetchone()[0]
    finally:
        bank.close()
    return {"journal_mode": str(mode), "synchronous": SYNCHRONOUS.get(level, str(level))}


SCENARIOS = {
    "S1": s1,
    "S2": s2,
    "S2snap": s2snap,
    "S2grow": s2grow,
    "S3": s3,
    "S3grow": s3grow,
    "S4": s4,
    "S5": s5,
}


def run(
    backend: str,
    target: str,
    scenario: str,
    sizes: Sizes,
    *,
    db_functions: bool = False,
    cache: bool = False,
) -> Measured:
    """Run one scenario on fresh applications over the given store; SQLite settings in `extra`."""
    env = environment(backend, target, db_functions=db_functions, cache=cache)
    measured = SCENARIOS[scenario](env, sizes)
    if backend == "sqlite":
        measured.extra["store"] = sqlite_settings(env)
    return measured
