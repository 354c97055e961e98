"""A publisher that keeps what it is sent: for tests of relays and the code around them."""

from __future__ import annotations

from collections.abc import Sequence

from ._message import Message


class InMemoryPublisher:
    """A `Publisher` that appends the messages it is sent to `messages`, in order."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.closed = False

    async def send(self, messages: Sequence[Message]) -> None:
        """Keep `messages` (every one of them, repeats included): acknowledged at once."""
        self.messages.extend(messages)

    async def close(self) -> None:
        """Note that the relay closed it."""
        self.closed = True
