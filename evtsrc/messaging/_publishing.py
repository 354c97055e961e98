"""What the publishers share: waiting for acknowledgements in bounded time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Sequence
from typing import Any

from .._errors import EvtsrcError


class PublishFailed(EvtsrcError):
    """A broker did not acknowledge a batch of messages (in time, or at all).

    The relay's bookmark did not move: the batch is sent again, with the same ids.
    """


@contextlib.asynccontextmanager
async def give_up_after(seconds: float, broker: str, count: int) -> AsyncGenerator[None]:
    """Bound the block to `seconds`; running out is a `PublishFailed` naming `broker`."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError as timeout:
        raise PublishFailed(
            f"{broker} did not acknowledge {count} message(s) within {seconds} s"
        ) from timeout


async def acknowledgements(broker: str, pending: Sequence[asyncio.Future[Any]]) -> None:
    """Wait for every future of `pending`; raise `PublishFailed` for the first that failed.

    If the wait is cancelled (or runs out of time), the futures still pending are cancelled.
    """
    try:
        results = await asyncio.gather(*pending, return_exceptions=True)
    except BaseException:
        abandon(pending)
        raise
    for result in results:
        if isinstance(result, BaseException):
            raise PublishFailed(f"{broker} refused a message: {result!r}") from result


def acknowledged_later(
    broker: str,
    seconds: float,
    pending: Sequence[asyncio.Future[Any]],
    on_failure: Callable[[], Awaitable[None]] | None = None,
) -> asyncio.Task[None]:
    """A task that waits up to `seconds` for every one of `pending` (`acknowledgements`).

    If one fails or time runs out, it abandons the rest, awaits `on_failure()` (to
    let go of a connection that may be broken) and raises `PublishFailed`.
    """

    async def wait() -> None:
        try:
            async with give_up_after(seconds, broker, len(pending)):
                await acknowledgements(broker, pending)
        except Exception:
            abandon(pending)
            if on_failure is not None:
                await on_failure()
            raise
        except BaseException:
            abandon(pending)
            raise

    return asyncio.ensure_future(wait())


class Connections:
    """Which connection each batch went out on, so that none overtakes a lost one's.

    A publisher counts a new connection (or producer) with `opened()` and hands each
    batch's acknowledgement task to `track()`. `check()` refuses a batch while one
    sent on an earlier connection is unacknowledged: its messages may have died with
    that connection, and once sent again they would arrive behind the new batch.
    """

    def __init__(self, broker: str) -> None:
        self._broker = broker
        self._current = 0
        self._waiting: dict[int, int] = {}
        """Unsettled batches by the connection they went out on."""

    def opened(self) -> None:
        """A new connection carries the next batches."""
        self._current += 1

    def check(self) -> None:
        """Raise `PublishFailed` if a batch sent on an earlier connection is unsettled."""
        if any(connection != self._current for connection in self._waiting):
            raise PublishFailed(
                f"{self._broker}: the connection was lost with messages unacknowledged; "
                "later ones wait until those are sent again, so as not to overtake them"
            )

    def track(self, acknowledged: asyncio.Future[Any]) -> None:
        """Count `acknowledged` against the current connection until it is done."""
        connection = self._current
        self._waiting[connection] = self._waiting.get(connection, 0) + 1

        def settled(_: asyncio.Future[Any]) -> None:
            left = self._waiting[connection] - 1
            if left:
                self._waiting[connection] = left
            else:
                del self._waiting[connection]

        acknowledged.add_done_callback(settled)


def abandon(pending: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel what is still pending, and read what failed, so that nothing is left behind."""
    for future in pending:
        if future.done():
            if not future.cancelled():
                future.exception()
        else:
            future.cancel()
