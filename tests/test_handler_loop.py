"""The background loop of a handler: wake-ups, failures, retries and a clean stop."""

from __future__ import annotations

import asyncio
import logging

import pytest

from evtsrc import Domain, EventHandler, EventMeta, HandlerError, on_event
from evtsrc.backends import InMemoryBackend

from .conformance.model import Counter, Ledger, One


class Flaky(EventHandler, name="flaky"):
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.seen: list[int] = []

    @on_event
    def one(self, event: One, meta: EventMeta) -> None:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("not yet")
        self.seen.append(meta.position)


async def until(condition: object, seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


@pytest.fixture
def domain() -> Domain:
    return Domain(InMemoryBackend(), aggregates=[Counter, Ledger])


async def test_the_memory_backend_wakes_a_tailing_handler_at_once(domain: Domain) -> None:
    runner = domain.handler(Flaky(0), poll_interval=60)
    await runner.start()
    try:
        await asyncio.sleep(0.01)
        started = asyncio.get_running_loop().time()
        await domain.repository(Counter).execute("a", Counter.do_one)
        await until(lambda: runner.handler.seen)
        assert asyncio.get_running_loop().time() - started < 1
    finally:
        await runner.stop()


async def test_a_failing_run_is_retried_from_the_failing_event(
    domain: Domain, caplog: pytest.LogCaptureFixture
) -> None:
    await domain.repository(Counter).execute("a", Counter.do_one)
    await domain.repository(Counter).execute("b", Counter.do_one)
    runner = domain.handler(Flaky(2), poll_interval=0.01)
    with caplog.at_level(logging.ERROR, logger="evtsrc.handlers"):
        await runner.start()
        await until(lambda: len(runner.handler.seen) == 2)
        await runner.stop()
    assert runner.handler.seen == [1, 2]
    assert isinstance(runner.last_error, HandlerError)
    assert sum("flaky failed; retrying" in r.getMessage() for r in caplog.records) == 2


async def test_stop_without_start_and_twice_is_harmless(domain: Domain) -> None:
    runner = domain.handler(Flaky(0))
    await runner.stop()
    await runner.start()
    await runner.stop()
    await runner.stop()
    assert not runner.running


async def test_stop_waits_for_the_batch_in_progress(domain: Domain) -> None:
    gate = asyncio.Event()
    handled: list[int] = []

    class Slow(EventHandler, name="slow"):
        @on_event
        async def one(self, event: One, meta: EventMeta) -> None:
            await gate.wait()
            handled.append(meta.position)

    await domain.repository(Counter).execute("a", Counter.do_one)
    runner = domain.handler(Slow(), poll_interval=0.01)
    await runner.start()
    await asyncio.sleep(0.02)
    stopping = asyncio.create_task(runner.stop())
    await asyncio.sleep(0.02)
    assert not stopping.done()
    gate.set()
    await stopping
    assert handled == [1]
    assert await runner.position() == 1


async def test_run_once_and_the_loop_do_not_overlap(domain: Domain) -> None:
    for n in range(20):
        await domain.repository(Counter).execute(f"c{n}", Counter.do_one)
    runner = domain.handler(Flaky(0), batch_size=3, poll_interval=0.01)
    await runner.start()
    await asyncio.gather(runner.run_once(), runner.run_once())
    await until(lambda: len(runner.handler.seen) == 20)
    await runner.stop()
    assert runner.handler.seen == list(range(1, 21))
