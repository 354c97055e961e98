"""What the publishers share: waiting for acknowledgements in bounded time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Iterable, Sequence
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


def abandon(pending: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel what is still pending, and read what failed, so that nothing is left behind."""
    for future in pending:
        if future.done():
            if not future.cancelled():
                future.exception()
        else:
            future.cancel()
