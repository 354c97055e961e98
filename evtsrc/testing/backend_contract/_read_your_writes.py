"""Read-your-writes: `last_position` of aggregates, and `HandlerRunner.wait_for`."""

from __future__ import annotations

import asyncio
import math

import pytest

from evtsrc import Domain, Event, EventMeta, HandlerBehind, HandlerError
from evtsrc.backends import Backend

from ._base import ContractBase
from ._model import Counter, Ledger, OnlyCounters, Seen, SnapshotCounter


class _Failing(Seen, name="seen"):
    """Fails on the positions it is given, counting the attempts."""

    attempts = 0

    def _record(self, event: Event, meta: EventMeta) -> None:
        if meta.position in self.fail_on:
            self.attempts += 1
        super()._record(event, meta)


async def _positions(domain: Domain, aggregate_id: str) -> list[int]:
    return [s.meta.position for s in await domain.repository(Counter).history(aggregate_id)]


class ReadYourWritesContract(ContractBase):
    """An aggregate knows its latest event's position; a runner can be awaited up to one."""

    async def test_last_position_after_execute_load_and_a_cached_command(
        self, domain: Domain, backend: Backend
    ) -> None:
        counters = domain.repository(Counter)
        assert (await counters.load("c")).last_position == 0
        first = await counters.execute("c", Counter.do_multi)
        assert first.last_position == (await _positions(domain, "c"))[-1]
        await domain.repository(Ledger).execute("l", Ledger.record, street="Main")
        cached = await counters.execute("c", Counter.do_two)  # decided on the cached state
        positions = await _positions(domain, "c")
        assert cached.last_position == positions[-1] > first.last_position
        assert (await counters.load("c")).last_position == positions[-1]
        uncached = Domain(backend, aggregates=[Counter, Ledger], cache_size=0)
        assert (await uncached.repository(Counter).load("c")).last_position == positions[-1]
        unchanged = await counters.execute("c", Counter.do_nothing)
        assert unchanged.last_position == positions[-1]
        # Another writer appends: the cached state folds the newer event, and its position.
        await uncached.repository(Counter).execute("c", Counter.do_three)
        newest = (await _positions(domain, "c"))[-1]
        assert (await counters.load("c")).last_position == newest
        assert (await counters.execute("c", Counter.do_one)).last_position > newest

    async def test_a_snapshot_restores_last_position_as_unknown(self, backend: Backend) -> None:
        domain = Domain(backend, aggregates=[SnapshotCounter], cache_size=0)
        counters = domain.repository(SnapshotCounter)
        written = await counters.execute("s", SnapshotCounter.do_one)
        assert written.last_position > 0
        restored = await counters.load("s")
        assert (restored.version, restored.last_position) == (1, 0)
        assert restored == written  # equality leaves the position out

    async def test_wait_for_on_a_started_runner_returns_once_the_write_is_handled(
        self, domain: Domain
    ) -> None:
        runner = domain.handler(Seen(), poll_interval=30.0)  # never woken by its poll in time
        await runner.start()
        try:
            for n in range(3):
                counter = await domain.repository(Counter).execute(f"c{n}", Counter.do_one)
                await runner.wait_for(counter.last_position, timeout=10.0)
                assert runner.handler.log[-1][1:3] == (f"c{n}", counter.last_position)
                assert await runner.position() >= counter.last_position
        finally:
            await runner.stop()

    async def test_wait_for_follows_a_runner_that_handles_elsewhere(
        self, domain: Domain, backend: Backend
    ) -> None:
        elsewhere = Domain(backend, aggregates=[Counter, Ledger]).handler(Seen())
        waiter = domain.handler(Seen())
        counter = await domain.repository(Counter).execute("c", Counter.do_one)
        waiting = asyncio.ensure_future(waiter.wait_for(counter.last_position, timeout=10.0))
        await asyncio.sleep(0.1)
        assert not waiting.done(), "wait_for returned before anything was handled"
        assert await elsewhere.run_once() == 1
        await waiting
        assert waiter.handler.log == []  # it only waited
        assert await waiter.position() == counter.last_position

    async def test_wait_for_follows_a_started_runner_elsewhere(
        self, domain: Domain, backend: Backend
    ) -> None:
        elsewhere = Domain(backend, aggregates=[Counter, Ledger]).handler(
            Seen(), poll_interval=0.05
        )
        await elsewhere.start()
        standby = domain.handler(Seen(), standby_interval=30.0)
        await standby.start()  # the lease is taken: this runner stands by
        try:
            counter = await domain.repository(Counter).execute("c", Counter.do_one)
            for waiter in (domain.handler(Seen()), standby):
                await waiter.wait_for(counter.last_position, timeout=10.0)
            assert elsewhere.handler.log[-1][2] == counter.last_position
            assert standby.handler.log == []
        finally:
            await standby.stop()
            await elsewhere.stop()

    async def test_a_position_outside_the_handlers_streams_does_not_keep_it_waiting(
        self, domain: Domain
    ) -> None:
        counters, ledgers = domain.repository(Counter), domain.repository(Ledger)
        before = await counters.execute("a", Counter.do_one)
        ledger = await ledgers.execute("l", Ledger.record, street="Main")
        after = await counters.execute("b", Counter.do_one)
        runner = domain.handler(OnlyCounters())
        with pytest.raises(HandlerBehind):  # the counter event before it is not handled
            await runner.wait_for(ledger.last_position, timeout=0.2)
        await runner.set_position(before.last_position)
        await runner.wait_for(ledger.last_position, timeout=10.0)  # `after` need not be handled
        with pytest.raises(HandlerBehind):
            await runner.wait_for(after.last_position, timeout=0.2)
        await runner.start()
        try:
            await runner.wait_for(after.last_position, timeout=10.0)
            last = await ledgers.execute("l", Ledger.record, street="High")
            await runner.wait_for(last.last_position, timeout=10.0)
            assert [row[1] for row in runner.handler.log] == ["b"]
        finally:
            await runner.stop()

    async def test_a_timeout_raises_handler_behind_naming_both_positions(
        self, domain: Domain
    ) -> None:
        first = await domain.repository(Counter).execute("c", Counter.do_one)
        second = await domain.repository(Counter).execute("c", Counter.do_two)
        runner = domain.handler(Seen())
        await runner.set_position(first.last_position)
        started = asyncio.get_running_loop().time()
        with pytest.raises(HandlerBehind) as raised:
            await runner.wait_for(second.last_position, timeout=0.3)
        assert asyncio.get_running_loop().time() - started < 10
        error = raised.value
        assert (error.handler, error.position, error.reached) == (
            "seen",
            second.last_position,
            first.last_position,
        )
        assert f"position {second.last_position}" in str(error)
        assert isinstance(error, TimeoutError)

    async def test_a_waiter_does_not_hurry_a_failing_handler_past_its_backoff(
        self, domain: Domain
    ) -> None:
        first = await domain.repository(Counter).execute("c", Counter.do_one)
        bad = await domain.repository(Counter).execute("c", Counter.do_two)
        runner = domain.handler(_Failing(fail_on={bad.last_position}), poll_interval=0.2)
        await runner.start()
        try:
            with pytest.raises(HandlerBehind) as raised:
                await runner.wait_for(bad.last_position, timeout=1.0)
            assert raised.value.reached == first.last_position
            assert isinstance(runner.last_error, HandlerError)
            # Retried after 0.4 s, then 0.8 s: a nudge per wait would retry it every few ms.
            assert 1 <= runner.handler.attempts <= 3
        finally:
            await runner.stop()

    async def test_wait_for_refuses_bad_arguments_and_returns_at_once_for_no_position(
        self, domain: Domain
    ) -> None:
        runner = domain.handler(Seen())
        for timeout in (0, -1.0, math.inf, math.nan):
            with pytest.raises(ValueError, match="timeout"):
                await runner.wait_for(1, timeout=timeout)
        with pytest.raises(TypeError, match="position"):
            await runner.wait_for("5", timeout=1.0)  # type: ignore[arg-type]
        for position in (0, -3):
            await runner.wait_for(position, timeout=0.001)
