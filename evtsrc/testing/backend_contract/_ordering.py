"""Handlers never skip an event, even when writers commit out of position order."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

from evtsrc import Domain, EventHandler, EventMeta, RetryPolicy, on_event
from evtsrc.backends import Backend, NewEvent
from evtsrc.testing.commit_gates import CommitGate

from ._base import ContractBase
from ._model import Counter, Ledger, One


class Log(EventHandler, name="ordering-log"):
    """Keeps (aggregate id, version, position) of every event it is given."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int, int]] = []

    @on_event
    def one(self, event: One, meta: EventMeta) -> None:
        self.seen.append((meta.aggregate_id, meta.version, meta.position))


async def _stored(domain: Domain) -> list[tuple[str, int, int]]:
    records: list[tuple[str, int, int]] = []
    after = 0
    while page := await domain.backend.read_streams(["counters"], after_position=after):
        records.extend((r.aggregate_id, r.version, r.position) for r in page)
        after = page[-1].position
    return records


class OrderingContract(ContractBase):
    """Handlers never skip an event, even when writers commit out of position order.

    The commit gate (capability `commit_gate`) holds a writer open once it has taken
    its position, or delays every commit by a random time.
    """

    async def test_a_lower_position_committed_after_a_higher_one_is_still_delivered(
        self, domain: Domain, gate: CommitGate
    ) -> None:
        counters = domain.repository(Counter)
        runner = domain.handler(Log())
        await gate.hold("first")
        first = asyncio.create_task(counters.execute("first", Counter.do_one))
        await gate.wait_held("first")  # "first" has taken its position and not committed
        second = asyncio.create_task(counters.execute("second", Counter.do_one))
        # On databases that serialise writers "second" waits for "first"; elsewhere it commits.
        await asyncio.wait([second], timeout=0.5)
        await runner.run_once()
        await gate.release("first")
        await asyncio.gather(first, second)
        await runner.run_once()
        stored = await _stored(domain)
        assert sorted(a for a, _, _ in stored) == ["first", "second"]
        assert runner.handler.seen == stored
        assert await runner.position() == stored[-1][2]

    async def test_random_commit_delays_lose_and_repeat_nothing(
        self, domain: Domain, gate: CommitGate
    ) -> None:
        rng = random.Random(20261127)
        await gate.jitter(0.02)
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
        assert len(stored) == 120
        assert runner.handler.seen == stored
        positions = [p for _, _, p in runner.handler.seen]
        assert positions == sorted(positions) and len(set(positions)) == len(positions)
        per_aggregate: dict[str, list[int]] = {}
        for aggregate_id, version, _ in runner.handler.seen:
            per_aggregate.setdefault(aggregate_id, []).append(version)
        assert all(v == list(range(1, len(v) + 1)) for v in per_aggregate.values())

    async def test_closing_the_gate_lets_held_appends_commit_and_holds_no_more(
        self, backend: Backend, gate: CommitGate
    ) -> None:
        event = NewEvent("one", {}, datetime.now(UTC))
        await gate.hold("held")
        await gate.jitter(0.01)
        held = asyncio.create_task(backend.append("counters", "held", 0, [event]))
        await gate.wait_held("held")
        assert not held.done()
        await gate.close()
        async with asyncio.timeout(10):
            assert [r.version for r in await held] == [1]
            assert [r.version for r in await backend.append("counters", "held", 1, [event])] == [2]
        await gate.close()  # closing twice does nothing more
