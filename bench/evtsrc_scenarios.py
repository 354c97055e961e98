"""The scenarios on evtsrc, through its public API: repositories and handler runners."""

from __future__ import annotations

import asyncio
import gc
import os
import random
import statistics
import sys
import types
from collections.abc import Awaitable, Callable
from typing import Any

from bench.common import COUNTING, Measured, Sizes, clock, growth, push_latencies
from bench.evtsrc_backends import make_backend, store_settings
from bench.evtsrc_model import (
    Account,
    DeliveryTimes,
    DepositTotal,
    SnapshotAccount,
    WholeDepositTotal,
    io_total,
)
from evtsrc import Aggregate, Domain, Repository
from evtsrc.backends import Backend

SEED_STEP = 1000
"""Events per setup append."""


async def seed(accounts: Repository[Any], account_id: str, events: int) -> None:
    """Setup: open the account and deposit until it has `events` events, in big appends."""
    first = min(events - 1, SEED_STEP - 1)
    await accounts.execute(account_id, Account.seed, owner="o", deposits=first)
    remaining = events - 1 - first
    while remaining:
        step = min(remaining, SEED_STEP)
        await accounts.execute(account_id, Account.seed_more, deposits=step)
        remaining -= step


async def median_load(
    accounts: Repository[Any], account_id: str, events: int, loads: int, *, warm: int = 0
) -> float:
    """The median time of `loads` loads of the account after `warm` untimed ones; checked."""
    times: list[float] = []
    for i in range(warm + loads):
        start = clock()
        account = await accounts.load(account_id)
        if i >= warm:
            times.append(clock() - start)
        assert account.version == events, account.version
        assert account.balance == events - 1, account.balance
    return statistics.median(times)


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
    """Median load time of one account with `s2_events` events, no snapshot, no cache."""
    accounts = domain.repository(Account)
    await seed(accounts, "big", sizes.s2_events)
    seconds = await median_load(accounts, "big", sizes.s2_events, sizes.s2_loads)
    return Measured(sizes.s2_events, seconds)


async def s2snap(domain: Domain, sizes: Sizes) -> Measured:
    """Median load time of a snapshotting account at each of `s2snap_events` events.

    Each size's loads follow one untimed load, so the first size timed does not pay for
    a cold process and connections.
    """
    accounts = domain.repository(SnapshotAccount)
    loads: dict[str, float] = {}
    seeding: dict[str, float] = {}
    for events in sizes.s2snap_events:
        start = clock()
        await seed(accounts, f"snap-{events}", events)
        seeding[str(events)] = clock() - start
    for events in sizes.s2snap_events:
        loads[str(events)] = await median_load(
            accounts, f"snap-{events}", events, sizes.s2_loads, warm=1
        )
    largest = loads[str(max(sizes.s2snap_events))]
    return Measured(1, largest, {"load_s": loads, "seed_s": seeding})


async def s2grow(domain: Domain, sizes: Sizes) -> Measured:
    """Median load time of an account at each of `s2grow_events` events, no snapshot or cache.

    Each size's loads follow one untimed load, as in S2snap. The accounts are seeded
    through a second domain on the same backend, with the cache, so that each append of
    the setup does not first read the account it grows.
    """
    accounts = domain.repository(Account)
    seeder = Domain(domain.backend, aggregates=domain.aggregates).repository(Account)
    seeding: dict[int, float] = {}
    for events in sizes.s2grow_events:
        start = clock()
        await seed(seeder, f"grow-{events}", events)
        seeding[events] = clock() - start
    loads = {
        events: await median_load(accounts, f"grow-{events}", events, sizes.s2_loads, warm=1)
        for events in sizes.s2grow_events
    }
    return growth(loads, seeding)


class BookmarkCheck:
    """Wraps how the backend stores bookmarks to check each position against the handler.

    Runners store with `move_bookmark` where the backend has it (fenced bookmarks),
    with `set_bookmark` before that and elsewhere: both are wrapped. A stored
    position must not pass the highest position the handler was given, except over
    events it does not take (checked afterwards, outside the timed part).
    """

    METHODS = ("set_bookmark", "move_bookmark")

    def __init__(self, backend: Backend, handler: DepositTotal) -> None:
        self.stored = 0
        self.ahead: list[tuple[int, int]] = []  # (stored, highest given then)
        self.originals: dict[str, Callable[..., Awaitable[None]]] = {}
        for method in self.METHODS:
            original = getattr(backend, method, None)
            if original is not None:
                self.originals[method] = original
                setattr(backend, method, self._wrapped(original, handler))

    def _wrapped(
        self, original: Callable[..., Awaitable[None]], handler: DepositTotal
    ) -> Callable[..., Awaitable[None]]:
        async def store(name: str, *positions: int) -> None:
            self.stored += 1
            position = positions[-1]  # (position) or (expected, position)
            if position > handler.highest:
                self.ahead.append((position, handler.highest))
            await original(name, *positions)

        return store

    async def verify(self, backend: Backend, streams: tuple[str, ...], name: str) -> None:
        """Nothing the handler takes was skipped; the bookmark ends at the last position.

        Then the backend's own methods are back.
        """
        assert self.stored > 0, "the runner never stored its bookmark"
        for position, highest in self.ahead:
            gap = await backend.read_streams(streams, after_position=highest, limit=100_000)
            skipped = [
                r.position for r in gap if r.position <= position and r.type == "account.deposited"
            ]
            assert not skipped, f"bookmark {position} passed unhandled deposits at {skipped[:5]}"
        last = await backend.last_position(streams)
        bookmark = await backend.get_bookmark(name)
        assert bookmark == last, f"bookmark {bookmark} after catch-up, last position {last}"
        for method in self.originals:
            delattr(backend, method)  # the instance attribute: the class's method is back


async def s3(domain: Domain, sizes: Sizes) -> Measured:
    """A fresh handler summing deposits catches up on `s3_accounts` x 10 events."""
    return await _catch_up(domain, sizes, DepositTotal())


async def s3meta(domain: Domain, sizes: Sizes) -> Measured:
    """S3 with a handler that reads each event whole, its id and metadata too."""
    return await _catch_up(domain, sizes, WholeDepositTotal())


async def _catch_up(domain: Domain, sizes: Sizes, handler: DepositTotal) -> Measured:
    accounts = domain.repository(Account)
    for i in range(sizes.s3_accounts):
        await accounts.execute(f"acc-{i}", Account.seed, owner="o", deposits=9)
    counting = os.environ.get(COUNTING)
    if counting:  # bench.instructions: the collector would move the count
        gc.collect()
        gc.disable()
        if counting == "setup":
            return Measured(0, 1.0)
    runner = domain.handler(handler)
    check = BookmarkCheck(domain.backend, runner.handler)
    start = clock()
    await runner.run_once()
    elapsed = clock() - start
    assert runner.handler.total == sizes.s3_accounts * 9, runner.handler.total
    await check.verify(domain.backend, runner.streams, runner.name)
    return Measured(sizes.s3_accounts * 10, elapsed, {"bookmarks_stored": check.stored})


def _fresh_total(suffix: str) -> DepositTotal:
    """A `DepositTotal` with a bookmark of its own, so that it starts from the beginning."""
    name = f"deposit-total-{suffix}"
    cls = types.new_class(f"DepositTotal_{suffix}", (DepositTotal,), {"name": name})
    handler: DepositTotal = cls()
    return handler


async def s3grow(domain: Domain, sizes: Sizes) -> Measured:
    """At each of `s3grow_events` events in the store, a fresh handler catches up on them all.

    The store grows between sizes (accounts of 10 events, as in S3); each size's handler
    has its own bookmark, and is checked as S3's is. An untimed handler first catches up
    on the smallest size, so that it does not pay for a cold process and connections.
    """
    accounts = domain.repository(Account)
    seconds: dict[int, float] = {}
    seeding: dict[int, float] = {}
    opened = 0
    for events in sizes.s3grow_events:
        assert events % 10 == 0, f"S3grow sizes are accounts of 10 events, not {events}"
        start = clock()
        while opened < events // 10:
            await accounts.execute(f"acc-{opened}", Account.seed, owner="o", deposits=9)
            opened += 1
        seeding[events] = clock() - start
        if not seconds:
            await domain.handler(_fresh_total("warm-up")).run_once()
        runner = domain.handler(_fresh_total(str(events)))
        check = BookmarkCheck(domain.backend, runner.handler)
        start = clock()
        await runner.run_once()
        seconds[events] = clock() - start
        assert runner.handler.total == opened * 9, runner.handler.total
        await check.verify(domain.backend, runner.streams, runner.name)
    return growth(seconds, seeding)


async def s4(domain: Domain, sizes: Sizes) -> Measured:
    """`s4_writers` tasks on one domain, each depositing `s4_deposits` times on its own account."""
    accounts = domain.repository(Account)
    ids = [f"writer-{i}" for i in range(sizes.s4_writers)]
    for account_id in ids:
        await accounts.execute(account_id, Account.open, owner="o")

    async def write(account_id: str) -> None:
        for _ in range(sizes.s4_deposits):
            await accounts.execute(account_id, Account.deposit, amount=1)

    start = clock()
    await asyncio.gather(*(write(account_id) for account_id in ids))
    elapsed = clock() - start
    runner = domain.handler(DepositTotal())  # every deposit is there for a reader, in order
    await runner.run_once()
    assert runner.handler.total == len(ids) * sizes.s4_deposits, runner.handler.total
    return Measured(len(ids) * sizes.s4_deposits, elapsed)


async def _until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = clock() + seconds
    while not condition():
        assert clock() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.001)


async def s5(domain: Domain, sizes: Sizes) -> Measured:
    """Commit-to-handler latency of pushed appends (the handler polls only every 30 s)."""
    accounts = domain.repository(Account)
    await accounts.execute("push", Account.open, owner="o")
    runner = domain.handler(DeliveryTimes(), poll_interval=30)
    arrived = runner.handler.arrived
    await runner.start()
    try:
        # The runner listens before it catches up, so once "opened" arrived it is listening.
        await _until(lambda: 1 in arrived, 10, "the handler's first catch-up")
        committed: dict[int, float] = {}
        low, high = sizes.s5_gap_ms
        start = clock()
        for _ in range(sizes.s5_appends):
            account = await accounts.execute("push", Account.deposit, amount=1)
            committed[account.version] = clock()
            await asyncio.sleep(random.uniform(low, high) / 1000)
        elapsed = clock() - start
        await _until(lambda: len(arrived) > sizes.s5_appends, 10, "pushed deliveries")
    finally:
        await runner.stop()
    return push_latencies(committed, arrived, elapsed)


async def s6(domain: Domain, sizes: Sizes, backend_kind: str, target: str) -> Measured:
    """Catch-up by an I/O-bound handler (1 ms per event), alone and in handler groups.

    Alone: one `HandlerRunner`. Concurrent: one process, `s6_concurrency` of the group's
    `s6_buckets` buckets at once. Workers: 1, 2 and 4 processes (`bench.group_worker`),
    one bucket at a time each, timed from their joining to the last bucket caught up.
    Each run has its own handler name, so each catches up on every event.
    """
    accounts = domain.repository(Account)
    events = sizes.s6_events
    assert events % 10 == 0, f"S6 is accounts of 10 events, not {events}"
    for i in range(events // 10):
        await accounts.execute(f"acc-{i}", Account.seed, owner="o", deposits=9)
    last = await domain.backend.last_position(["accounts"])
    timeout = events * IO_BOUND + 120
    rates: dict[str, float] = {}
    runner = domain.handler(io_total("io-alone"))
    start = clock()
    await runner.run_once()
    rates["alone"] = events / (clock() - start)
    assert runner.handler.handled == events, runner.handler.handled
    group = domain.handler_group(
        io_total("io-concurrent"),
        buckets=sizes.s6_buckets,
        concurrency=sizes.s6_concurrency,
        member_ttl=1.5,
        batch_size=100,
    )
    start = clock()
    await group.start()
    await group.wait_for(last, timeout=timeout)
    rates["concurrent"] = events / (clock() - start)
    await group.stop()
    assert group.handler.handled == events, group.handler.handled
    for workers in (1, 2, 4):
        name = f"io-workers-{workers}"
        rates[f"workers-{workers}"] = await _workers(
            domain, backend_kind, target, name, workers, sizes.s6_buckets, last, events, timeout
        )
    return Measured(
        events,
        events / rates["workers-4"],
        {
            "rates": rates,
            "workers_4_over_1": rates["workers-4"] / rates["workers-1"],
            "workers_2_over_1": rates["workers-2"] / rates["workers-1"],
            "concurrent_over_alone": rates["concurrent"] / rates["alone"],
        },
    )


IO_BOUND = 0.0015
"""Seconds an event of S6 takes at most, alone, for the runs' timeouts."""


async def _workers(
    domain: Domain,
    backend_kind: str,
    target: str,
    name: str,
    workers: int,
    buckets: int,
    last: int,
    events: int,
    timeout: float,
) -> float:
    """Events/s of `workers` processes of group `name` catching up on `events`, to `last`."""
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.group_worker",
            backend_kind,
            target,
            name,
            str(buckets),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(workers)
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), 60)
            assert line.strip() == b"ready", line
        watcher = domain.handler_group(io_total(name), buckets=buckets)  # reads bookmarks
        start = clock()
        for process in processes:
            assert process.stdin is not None
            process.stdin.write(b"go\n")
        await watcher.wait_for(last, timeout=timeout)
        elapsed = clock() - start
    finally:
        for process in processes:
            if process.stdin is not None:
                process.stdin.close()
        for process in processes:
            try:
                await asyncio.wait_for(process.wait(), 60)
            except TimeoutError:
                process.kill()
                await process.wait()
    assert all(process.returncode == 0 for process in processes), "a worker failed"
    return events / elapsed


Scenario = Callable[[Domain, Sizes], Awaitable[Measured]]
SCENARIOS: dict[str, Scenario] = {
    "S1": s1,
    "S2": s2,
    "S2snap": s2snap,
    "S2grow": s2grow,
    "S3": s3,
    "S3meta": s3meta,
    "S3grow": s3grow,
    "S4": s4,
    "S5": s5,
}


LOADS_FROM_STORE = ("S2", "S2snap", "S2grow")
"""Scenarios that measure loads from the store, so run with no aggregate cache."""


async def run(
    backend_kind: str, target: str, scenario: str, sizes: Sizes, *, cache: bool = True
) -> Measured:
    """Run one scenario on a fresh domain over the given store; SQLite settings in `extra`.

    The domain has its defaults, except `cache_size=0` when `cache` is false (a command
    then reads the aggregate, as in a deployment of several processes) or the scenario
    measures loads.
    """
    aggregate: type[Aggregate] = SnapshotAccount if scenario == "S2snap" else Account
    backend = await make_backend(backend_kind, target)
    off = not cache or scenario in LOADS_FROM_STORE
    options: dict[str, Any] = {"cache_size": 0} if off else {}
    domain = Domain(backend, aggregates=[aggregate], **options)
    try:
        if scenario == "S6":  # worker processes open the store again
            measured = await s6(domain, sizes, backend_kind, target)
        else:
            measured = await SCENARIOS[scenario](domain, sizes)
        settings = await store_settings(backend_kind, backend)
        if settings:
            measured.extra["store"] = settings
        return measured
    finally:
        await domain.close()
