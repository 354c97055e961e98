"""What the receivers share: a background loop that feeds an inbox, retrying failures."""

from __future__ import annotations

import abc
import asyncio
import enum
import logging
from collections.abc import Mapping
from typing import Any

from .. import _telemetry
from .._retry import MAX_FAILURE_BACKOFF
from ._inbox import Inbox, MessageDecodeError, Received

log = logging.getLogger("evtsrc.messaging")


class Outcome(enum.Enum):
    """What became of a delivered message."""

    HANDLED = enum.auto()
    """The inbox ran its callback."""
    SKIPPED = enum.auto()
    """Handled before (a repeat), or of a type the inbox does not take."""
    REJECTED = enum.auto()
    """It cannot be decoded: it is given back to the broker as dead (where it can keep it)."""


class Stopped(Exception):
    """The receiver was asked to stop while a message was failing: it stays unacknowledged."""


class Receiver(abc.ABC):
    """Feeds an `Inbox` the messages of a broker, in the background.

    `start(inbox)` runs it until `stop()`. Messages are handed over one at a time, in
    the order the broker delivers them, and acknowledged once the inbox has them.
    A message whose callback fails is tried again after a growing delay (from
    `retry_delay` seconds up to a minute), holding the messages after it back, so
    an aggregate's messages keep their order; one that cannot be decoded is
    rejected. A lost connection is opened again after the same delays.
    """

    broker: str = "a broker"

    def __init__(self, *, retry_delay: float = 0.5) -> None:
        if not retry_delay > 0:
            raise ValueError(f"retry_delay must be positive, not {retry_delay!r}")
        self._retry_delay = retry_delay
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.handled = 0
        """How many messages the inbox ran a callback for."""
        self.skipped = 0
        """How many were repeats, or of types the inbox does not take."""
        self.rejected = 0
        """How many could not be decoded."""
        self.last_error: BaseException | None = None
        """The last failure met (a callback's, or the connection's)."""

    @property
    def running(self) -> bool:
        """Whether `start()` launched it and it has not stopped."""
        return self._task is not None and not self._task.done()

    async def start(self, inbox: Inbox[Any]) -> None:
        """Receive for `inbox` in the background until `stop()`."""
        if self.running:
            raise RuntimeError(f"this {type(self).__name__} is already running")
        self._stopping = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(
            self._loop(inbox), name=f"evtsrc {type(self).__name__} for {inbox.name}"
        )

    async def stop(self) -> None:
        """Stop after the message in hand (a failing one stays unacknowledged)."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        await asyncio.wait([task])

    async def _loop(self, inbox: Inbox[Any]) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                await self._receive(inbox)
                failures = 0
            except Stopped:
                return
            except Exception as error:
                failures += 1
                self.last_error = error
                delay = self._delay(failures)
                log.exception(
                    "receiving from %s for inbox %s failed; again in %.1f s",
                    self.broker,
                    inbox.name,
                    delay,
                    extra=_telemetry.inbox_ids(inbox.name),
                )
                await self._pause(delay)
            finally:
                await self._disconnect()

    @abc.abstractmethod
    async def _receive(self, inbox: Inbox[Any]) -> None:
        """Connect, then hand messages to `deliver` until `stopping()`; raise if the link fails."""

    @abc.abstractmethod
    async def _disconnect(self) -> None:
        """Close what `_receive` opened (errors handled here)."""

    def stopping(self) -> bool:
        """Whether `stop()` was called."""
        return self._stopping.is_set()

    async def deliver_raw(
        self,
        inbox: Inbox[Any],
        payload: bytes,
        headers: Mapping[str, str],
        *,
        message_id: str | None = None,
        key: str | None = None,
    ) -> Outcome:
        """`deliver` a message an evtsrc relay published, as the broker gave it."""
        try:
            received = Received.of(payload, headers, message_id=message_id, key=key)
        except MessageDecodeError as error:
            return self._reject(inbox, error)
        return await self.deliver(inbox, received)

    def _reject(self, inbox: Inbox[Any], error: MessageDecodeError) -> Outcome:
        self.rejected += 1
        self.last_error = error
        log.error(
            "inbox %s rejects a message: %s",
            inbox.name,
            error,
            extra=_telemetry.inbox_ids(inbox.name, error.message_id),
        )
        return Outcome.REJECTED

    async def deliver(self, inbox: Inbox[Any], received: Received) -> Outcome:
        """Hand `received` to `inbox` until it takes it; raise `Stopped` if stopped meanwhile."""
        failures = 0
        while True:
            try:
                handled = await inbox.receive(received)
            except MessageDecodeError as error:
                return self._reject(inbox, error)
            except Exception as error:
                failures += 1
                self.last_error = error
                delay = self._delay(failures)
                log.exception(
                    "inbox %s: message %s failed; again in %.1f s",
                    inbox.name,
                    received.message_id,
                    delay,
                    extra=_telemetry.inbox_ids(inbox.name, received.message_id),
                )
                await self._pause(delay)
                if self.stopping():
                    raise Stopped from error
                continue
            if handled:
                self.handled += 1
                return Outcome.HANDLED
            self.skipped += 1
            return Outcome.SKIPPED

    def _delay(self, failures: int) -> float:
        return float(min(self._retry_delay * 2.0 ** (failures - 1), MAX_FAILURE_BACKOFF))

    async def _pause(self, seconds: float) -> None:
        """Sleep `seconds`, or less if `stop()` is called."""
        try:
            async with asyncio.timeout(seconds):
                await self._stopping.wait()
        except TimeoutError:
            pass
