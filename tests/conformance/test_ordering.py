"""Handlers never skip an event, even when writers commit out of position order."""

from __future__ import annotations

import asyncio
import random

from evtsrc import Domain, EventHandler, EventMeta, RetryPolicy, on_event
from evtsrc.backends import Backend

from .model import Counter, Ledger, One


class Log(EventHandler, name="ordering-log"):
    def __init__(self) -> None:
        self.seen: list[tuple[str, int, int]] = []

    @on_event
    def one(self, event: One, meta: EventMeta) -> None:
        self.seen.append((meta.aggregate_id, meta.version, meta.position))


async def _stored(domain: Domain) -> list[tuple[str, int, int]]:
    records = []
    after = 0
    while page := await domain.backend.read_streams(["counters"], after_position=after):
        records.extend((r.aggregate_id, r.version, r.position) for r in page)
        after = page[-1].position
    return records


async def test_a_lower_position_committed_after_a_higher_one_is_still_delivered(
    domain: Domain, backend: Backend
) -> None:
    counters = domain.repository(Counter)
    runner = domain.handler(Log())
    entered = asyncio.Event()
    release = asyncio.Event()

    async def hold_first_writer(stream: str, aggregate_id: str) -> None:
        if aggregate_id == "first":
            entered.set()
            await release.wait()

    backend.before_commit = hold_first_writer
    first = asyncio.create_task(counters.execute("first", Counter.do_one))
    await entered.wait()  # "first" has taken its position and not committed
    second = asyncio.create_task(counters.execute("second", Counter.do_one))
    # On databases that serialise writers "second" waits for "first"; elsewhere it commits.
    await asyncio.wait([second], timeout=0.5)
    await runner.run_once()
    release.set()
    await asyncio.gather(first, second)
    backend.before_commit = None
    await runner.run_once()
    stored = await _stored(domain)
    assert sorted(a for a, _, _ in stored) == ["first", "second"]
    assert runner.handler.seen == stored
    assert await runner.position() == stored[-1][2]


async def test_random_commit_delays_lose_and_repeat_nothing(
    domain: Domain, backend: Backend
) -> None:
    rng = random.Random(20261127)

    async def jitter(stream: str, aggregate_id: str) -> None:
        await asyncio.sleep(rng.choice((0, 0, 0.001, 0.005, 0.02)))

    backend.before_commit = jitter
    counters = domain.repository(Counter).with_retry(RetryPolicy(attempts=50, backoff=0.002))
    runner = domain.handler(Log(), batch_size=7, poll_interval=0.01)
    await runner.start()
    try:
        for wave in range(6):  # waves of concurrent writers, the handler tailing throughout
            writes = [
                counters.execute(f"agg-{rng.randrange(12)}", Counter.do_one) for _ in range(20)
            ]
            await asyncio.gather(*writes)
            await asyncio.sleep(0.01 * wave)
        await domain.repository(Ledger).execute("done", Ledger.record, street="end")
        stored = await _stored(domain)
        deadline = asyncio.get_running_loop().time() + 20
        while len(runner.handler.seen) < len(stored):
            assert asyncio.get_running_loop().time() < deadline, "handler did not catch up"
            await asyncio.sleep(0.02)
    finally:
        await runner.stop()
        backend.before_commit = None
    assert len(stored) == 120
    assert runner.handler.seen == stored
    positions = [p for _, _, p in runner.handler.seen]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    per_aggregate: dict[str, list[int]] = {}
    for aggregate_id, version, _ in runner.handler.seen:
        per_aggregate.setdefault(aggregate_id, []).append(version)
    assert all(v == list(range(1, len(v) + 1)) for v in per_aggregate.values())
