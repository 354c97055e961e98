"""The shared listener: it subscribes again after failures and wakes the reader once it has."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from evtsrc.backends._support.listener import CannotSubscribe, ReconnectingListener

log = logging.getLogger("tests.listener")


class Scripted:
    """A subscription whose attempts fail, push or end as the test says."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.attempts = 0
        self.subscribed = asyncio.Event()
        self.push: Callable[[], None] | None = None
        self.lost = asyncio.Event()
        self.cancelled = False

    async def __call__(self, woken: Callable[[], None], subscribed: Callable[[], None]) -> None:
        self.attempts += 1
        if self.failures:
            raise self.failures.pop(0)
        self.push = woken
        subscribed()
        self.subscribed.set()
        try:
            await self.lost.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        self.lost.clear()
        self.subscribed.clear()
        raise ConnectionError("lost")


async def _woken(listener: ReconnectingListener, within: float = 2) -> bool:
    started = asyncio.get_running_loop().time()
    await listener.wait(within)
    return asyncio.get_running_loop().time() - started < within


async def test_start_raises_what_the_first_attempt_met() -> None:
    listener = ReconnectingListener(Scripted(OSError("refused")), name="test", log=log)
    with pytest.raises(OSError, match="refused"):
        await listener.start()
    await listener.close()


async def test_pushes_wake_the_reader_and_a_lost_subscription_is_replaced() -> None:
    follow = Scripted()
    listener = ReconnectingListener(follow, name="test", log=log)
    await listener.start()
    assert follow.push is not None
    follow.push()
    assert await _woken(listener)
    assert not await _woken(listener, 0.1)  # nothing new
    follow.failures = [OSError("down")]
    follow.lost.set()  # the first retry fails, the second subscribes
    assert await _woken(listener)  # subscribed again: what was appended meanwhile is read
    assert follow.attempts == 3 and follow.subscribed.is_set()
    await listener.close()
    assert follow.cancelled


async def test_start_retrying_keeps_trying_and_returns_after_its_patience() -> None:
    follow = Scripted(OSError("down"), OSError("down"))
    listener = ReconnectingListener(follow, name="test", log=log)
    await listener.start_retrying(patience=5)
    assert follow.attempts == 3 and follow.subscribed.is_set()
    await listener.close()
    never = Scripted(*[OSError("down")] * 1000)
    listener = ReconnectingListener(never, name="test", log=log)
    started = asyncio.get_running_loop().time()
    await listener.start_retrying(patience=0.2)
    assert asyncio.get_running_loop().time() - started < 1
    await listener.close()


async def test_a_database_that_cannot_push_leaves_a_polling_listener(
    caplog: pytest.LogCaptureFixture,
) -> None:
    follow = Scripted(CannotSubscribe("no replica set"))
    listener = ReconnectingListener(follow, name="test", log=log)
    with caplog.at_level(logging.WARNING, logger="tests.listener"):
        await listener.start_retrying(patience=5)
    assert "test cannot work (no replica set); handlers will poll" in caplog.text
    assert not await _woken(listener, 0.1)
    assert follow.attempts == 1
    await listener.close()


async def test_a_wait_cancelled_as_a_push_wakes_it_is_still_cancelled() -> None:
    # Python 3.11's wait_for loses a cancellation that comes as the awaited thing
    # finishes; a loop around wait() would then never see that it was cancelled.
    follow = Scripted()
    listener = ReconnectingListener(follow, name="test", log=log)
    await listener.start()
    waiting = asyncio.create_task(listener.wait(10))
    await asyncio.sleep(0)
    assert follow.push is not None
    follow.push()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await listener.close()
