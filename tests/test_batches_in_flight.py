"""Batches in flight: `after_batch` returns an awaitable, and the runner goes on meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Sequence

import pytest

from evtsrc import Domain, Event, EventHandler, EventMeta, HandlerError, StoredEvent, on_event
from evtsrc._in_flight import IN_FLIGHT
from evtsrc.backends import InMemoryBackend

from .conformance.model import Counter, Ledger, One
from .test_handler_loop import until


class Acknowledged(EventHandler, name="acknowledged"):
    """Each batch waits for a future the test settles; a callback can fail at one position."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.fail_at = fail_at
        self.batches: list[list[int]] = []
        self.pending: list[asyncio.Future[None]] = []

    @on_event
    def one(self, event: One, meta: EventMeta) -> None:
        if meta.position == self.fail_at:
            raise RuntimeError("cannot")

    async def after_batch(self, events: Sequence[StoredEvent[Event]]) -> Awaitable[None]:
        self.batches.append([stored.meta.position for stored in events])
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending.append(future)
        return future


@contextlib.asynccontextmanager
async def acknowledging(handler: Acknowledged) -> AsyncGenerator[None]:
    """Acknowledge each batch of `handler` as it comes, while in the block."""

    async def acknowledge() -> None:
        while True:
            for future in handler.pending:
                if not future.done():
                    future.set_result(None)
            await asyncio.sleep(0.002)

    task = asyncio.create_task(acknowledge())
    try:
        yield
    finally:
        task.cancel()


@pytest.fixture
async def domain() -> Domain:
    domain = Domain(InMemoryBackend(), aggregates=[Counter, Ledger])
    for n in range(20):
        await domain.repository(Counter).execute(f"c{n}", Counter.do_one)
    return domain


async def test_the_next_batches_are_handled_while_one_waits(domain: Domain) -> None:
    handler = Acknowledged()
    runner = domain.handler(handler, batch_size=2)
    run = asyncio.create_task(runner.run_once())
    # IN_FLIGHT batches wait, and the one after them waits for the first to settle.
    await until(lambda: len(handler.batches) == IN_FLIGHT + 1)
    await asyncio.sleep(0.01)
    assert len(handler.batches) == IN_FLIGHT + 1
    assert await runner.position() == 0
    handler.pending[1].set_result(None)  # out of order: the bookmark waits for the first
    await asyncio.sleep(0.01)
    assert await runner.position() == 0
    handler.pending[0].set_result(None)
    await until(lambda: len(handler.batches) == IN_FLIGHT + 3)
    assert await runner.position() == 4  # past both, in one move
    async with acknowledging(handler):
        assert await run == 20
    assert await runner.position() == 20
    assert [p for batch in handler.batches for p in batch] == list(range(1, 21))


async def test_a_failed_batch_keeps_the_bookmark_before_it_and_the_run_goes_again(
    domain: Domain,
) -> None:
    handler = Acknowledged()
    runner = domain.handler(handler, batch_size=2)
    run = asyncio.create_task(runner.run_once())
    await until(lambda: len(handler.batches) == IN_FLIGHT + 1)
    handler.pending[0].set_result(None)
    handler.pending[1].set_exception(ConnectionError("the broker refused batch 2"))
    with pytest.raises(ConnectionError, match="batch 2"):
        await run
    assert await runner.position() == 2
    # The batches after the failed one were let go of: their futures are cancelled.
    assert all(future.cancelled() for future in handler.pending[2:])
    handler.batches.clear()
    handler.pending.clear()
    again = asyncio.create_task(runner.run_once())
    await until(lambda: handler.batches)
    assert handler.batches[0] == [3, 4]
    async with acknowledging(handler):
        assert await again == 18
    assert await runner.position() == 20


async def test_a_failing_callback_waits_for_the_batches_before_it_then_stops_before_itself(
    domain: Domain,
) -> None:
    handler = Acknowledged(fail_at=7)
    runner = domain.handler(handler, batch_size=2)
    async with acknowledging(handler):
        with pytest.raises(HandlerError, match="position 7"):
            await runner.run_once()
    assert handler.batches == [[1, 2], [3, 4], [5, 6], []]
    assert await runner.position() == 6


async def test_a_stopped_loop_waits_for_its_batches_in_flight(domain: Domain) -> None:
    handler = Acknowledged()
    runner = domain.handler(handler, batch_size=5)
    await runner.start()
    await until(lambda: len(handler.batches) == 4)
    stopping = asyncio.create_task(runner.stop())
    await asyncio.sleep(0.02)
    assert not stopping.done()
    for future in handler.pending:
        future.set_result(None)
    await stopping
    assert await runner.position() == 20


async def test_a_group_bucket_moves_past_its_batches_in_flight(domain: Domain) -> None:
    handler = Acknowledged()
    group = domain.handler_group(handler, buckets=2, batch_size=2, member_ttl=1.0)
    await group.start()
    try:
        async with acknowledging(handler):
            await group.wait_for(20, timeout=10)
    finally:
        await group.stop()
    assert sorted(p for batch in handler.batches for p in batch) == list(range(1, 21))


async def test_a_started_loop_goes_on_with_new_events_while_earlier_batches_wait(
    domain: Domain,
) -> None:
    handler = Acknowledged()
    runner = domain.handler(handler, batch_size=100, poll_interval=60)
    await runner.start()
    try:
        await until(lambda: len(handler.batches) == 1)
        assert handler.batches == [list(range(1, 21))]
        await domain.repository(Counter).execute("late", Counter.do_one)
        # Handled and sent at once, though the batch before it still waits.
        await until(lambda: len(handler.batches) == 2)
        assert handler.batches[1] == [21]
        assert await runner.position() == 0
        handler.pending[1].set_result(None)
        await asyncio.sleep(0.02)
        assert await runner.position() == 0  # in order: the first still waits
        handler.pending[0].set_result(None)
        # No new event comes: the loop wakes for the acknowledgement itself.
        await until(lambda: runner._bookmark.known == 21)
        await runner.wait_for(21, timeout=5)
    finally:
        await runner.stop()
    assert await runner.position() == 21


async def test_moving_the_bookmark_lets_go_of_the_batches_in_flight(domain: Domain) -> None:
    handler = Acknowledged()
    runner = domain.handler(handler, batch_size=100, poll_interval=60)
    await runner.start()
    try:
        await until(lambda: len(handler.batches) == 1)
        await runner.set_position(5)
        assert handler.pending[0].cancelled()
        await domain.repository(Counter).execute("late", Counter.do_one)
        await until(lambda: sum(map(len, handler.batches[1:])) >= 16)
        # Read again from the position set, not from where the batch let go of ended.
        assert [p for batch in handler.batches[1:] for p in batch] == list(range(6, 22))
        for future in handler.pending[1:]:
            future.set_result(None)
        await runner.wait_for(21, timeout=5)
    finally:
        await runner.stop()


class LostEarlier(Acknowledged, name="lost-earlier"):
    """The first batch's acknowledgement fails while the second batch is being handled."""

    @on_event
    def one(self, event: One, meta: EventMeta) -> None:
        if meta.position == 3 and not self.pending[0].done():
            self.pending[0].set_exception(RuntimeError("the broker lost it"))


async def test_no_batch_is_sent_once_an_earlier_one_failed(domain: Domain) -> None:
    # Sent after the failure, the second batch could reach the broker before the first
    # is sent again: the aggregates' order would break there.
    handler = LostEarlier()
    runner = domain.handler(handler, batch_size=2)
    with pytest.raises(RuntimeError, match="the broker lost it"):
        await runner.run_once()
    assert handler.batches == [[1, 2]]
    assert await runner.position() == 0
    async with acknowledging(handler):
        assert await runner.run_once() == 20
    assert handler.batches[1:3] == [[1, 2], [3, 4]]
