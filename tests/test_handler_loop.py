"""The background loop of a handler: wake-ups, failures, retries and a clean stop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from evtsrc import Domain, EventHandler, EventMeta, HandlerError, on_event
from evtsrc.backends import InMemoryBackend, InMemoryBookmarks

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


class LostReply(InMemoryBookmarks):
    """Bookmarks whose first move is stored, then answered with a lost connection."""

    def __init__(self, meanwhile: Callable[[], Awaitable[object]]) -> None:
        super().__init__()
        self.meanwhile = meanwhile
        """What happens between the lost reply and the retry."""
        self.lost = False

    async def move_bookmark(self, name: str, expected: int, position: int) -> None:
        await super().move_bookmark(name, expected, position)
        if not self.lost:
            self.lost = True
            await self.meanwhile()
            raise ConnectionResetError("the reply to the move was lost")


@pytest.mark.parametrize("always_tail_stream", [False, True])
async def test_after_a_lost_reply_the_loop_reads_where_its_bookmark_is(
    domain: Domain, always_tail_stream: bool
) -> None:
    counters = domain.repository(Counter)
    bookmarks = LostReply(lambda: counters.execute("c", Counter.do_one))
    runner = domain.handler(
        Flaky(0), bookmarks=bookmarks, poll_interval=0.01, always_tail_stream=always_tail_stream
    )
    await runner.start()
    try:
        await counters.execute("a", Counter.do_one)
        await counters.execute("b", Counter.do_one)
        await until(lambda: len(runner.handler.seen) >= 3)
        await runner.wait_for(3, timeout=5)
    finally:
        await runner.stop()
    # The move landed, so the retry goes on from it: it neither handles a and b again
    # and then finds the bookmark moved, nor (tailing) skips c.
    assert runner.handler.seen[-1] == 3
    assert runner.handler.seen.count(3) == 1
    assert isinstance(runner.last_error, ConnectionResetError)
    assert await bookmarks.get_bookmark("flaky") == 3


async def test_a_memory_wait_cancelled_as_an_append_wakes_it_is_still_cancelled(
    domain: Domain,
) -> None:
    listener: Any = await domain.backend.listen(["counters"])
    waiting = asyncio.create_task(listener.wait(10))
    await asyncio.sleep(0)
    listener.notify()  # as an append does
    await asyncio.sleep(0)  # the wake is on its way to the wait
    assert not waiting.done()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await listener.close()


def test_bad_options_are_refused(domain: Domain) -> None:
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"batch_size": 0}, ValueError, "batch_size must be at least 1, not 0"),
        ({"poll_interval": 0}, ValueError, "poll_interval must be positive, not 0"),
        ({"standby_interval": -1}, ValueError, "standby_interval must be positive, not -1"),
        ({"park": 1}, TypeError, "park must be a bool, not 1"),
        ({"park": True, "continue_on_error": True}, ValueError, "choose one"),
    ]
    for options, error, message in cases:
        with pytest.raises(error, match=message):
            domain.handler(Flaky(0), **options)
    with pytest.raises(TypeError, match="is not an EventHandler"):
        domain.handler(object())  # type: ignore[type-var]
