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


def abandon(pending: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel what is still pending, and read what failed, so that nothing is left behind."""
    for future in pending:
        if future.done():
            if not future.cancelled():
                future.exception()
        else:
            future.cancel()
