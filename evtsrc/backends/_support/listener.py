"""Append listeners that stay subscribed to the database's pushes through failures.

A backend that can push (PostgreSQL's LISTEN, MongoDB's change streams) gives a
`ReconnectingListener` the one thing that differs between databases: how to follow
one subscription until it fails (`Follow`). The listener runs it in a background
task and subscribes again after each failure, waiting longer each time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Protocol

FIRST_BACKOFF = 0.05
"""Seconds between a subscription's failure and the first attempt to subscribe again."""
MAX_BACKOFF = 10.0
"""The longest pause, in seconds, between two attempts to subscribe again."""


class CannotSubscribe(Exception):
    """Raised by a `Follow` when the database cannot push at all: the listener only polls."""


class Follow(Protocol):
    """Subscribe to appends and follow the subscription until it fails.

    Call `subscribed()` once notices can arrive, then `woken()` for each notice of an
    append to the streams listened to. Raise (or return) when the subscription ends:
    the listener subscribes again after a pause. Raise `CannotSubscribe` when the
    database cannot push at all. Cancelled when the listener closes: release what
    was opened.
    """

    async def __call__(self, woken: Callable[[], None], subscribed: Callable[[], None]) -> None:
        """Follow one subscription to its end."""
        ...


class ReconnectingListener:
    """An `AppendListener` that wakes on the pushes `follow` receives, and keeps receiving them.

    While the subscription is down, `wait` returns only at its timeout (the reader
    polls). Once subscribed again after a failure it wakes the reader, since appends
    meanwhile sent no notice it could receive.
    """

    def __init__(self, follow: Follow, *, name: str, log: logging.Logger) -> None:
        self._follow = follow
        self._name = name
        self._log = log
        self._woken = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._first: asyncio.Future[None] | None = None  # settled once first subscribed
        self._delay = FIRST_BACKOFF
        self._missed = False

    async def start(self) -> None:
        """Subscribe and stay subscribed; raise the error the first attempt met."""
        first = self._launch(raise_first=True)
        try:
            await asyncio.shield(first)
        except BaseException:
            await self.close()
            raise

    async def start_retrying(self, patience: float) -> None:
        """Subscribe and stay subscribed, retrying from the first attempt on.

        Return once subscribed, or after `patience` seconds.
        """
        first = self._launch(raise_first=False)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(patience):
                await asyncio.shield(first)

    def _launch(self, *, raise_first: bool) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        first = self._first = loop.create_future()
        self._task = loop.create_task(self._run(first, raise_first))
        return first

    async def _run(self, first: asyncio.Future[None], raise_first: bool) -> None:
        """Follow the subscription, and subscribe again after each failure."""
        while True:
            try:
                await self._follow(self._woken.set, self._subscribed)
                error: Exception = ConnectionError("the subscription ended")
            except CannotSubscribe as cannot:
                self._log.warning("%s cannot work (%s); handlers will poll", self._name, cannot)
                _settle(first)
                return
            except Exception as failed:
                error = failed
            if raise_first and not first.done():
                first.set_exception(error)
                return
            self._log.warning(
                "%s failed (%s); subscribing again in %.2f s", self._name, error, self._delay
            )
            self._missed = True
            await asyncio.sleep(self._delay)
            self._delay = min(self._delay * 2, MAX_BACKOFF)

    def _subscribed(self) -> None:
        assert self._first is not None
        _settle(self._first)
        self._delay = FIRST_BACKOFF
        if self._missed:
            self._missed = False
            self._woken.set()

    async def wait(self, timeout: float) -> None:
        """Return on a push for one of the streams, or after `timeout` seconds."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):  # unlike 3.11's wait_for, never eats a cancel
                await self._woken.wait()
        self._woken.clear()

    async def close(self) -> None:
        """Stop following, and release what the subscription holds."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
