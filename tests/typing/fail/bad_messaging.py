"""The relay and the inbox: what must not type-check."""

from __future__ import annotations

from collections.abc import Sequence

from evtsrc import Domain, EventMeta, on_event
from evtsrc.messaging import (
    Inbox,
    InboxHandler,
    InMemoryPublisher,
    Message,
    Received,
    Relay,
    on_message,
)
from tests.typing.model import PostCreated


class Out(Relay, name="out"):
    @on_event
    def created(self, event: PostCreated, meta: EventMeta) -> None:
        self.forward(meta, event)  # expect-error: arg-type ArgumentType
        self.publish("text", meta)  # expect-error: arg-type ArgumentType
        self.forward(event, meta, to=5)  # expect-error: arg-type ArgumentType


class OldPublisher:
    """Waits for its acknowledgements in `publish`: it has no `send`."""

    async def publish(self, messages: Sequence[Message]) -> None:
        pass

    async def close(self) -> None:
        pass


class Sends:
    """Its `send` returns what is not an awaitable of acknowledgements."""

    async def send(self, messages: Sequence[Message]) -> int:
        return 0

    async def close(self) -> None:
        pass


class In(InboxHandler, name="in"):
    @on_message  # expect-error: type-var ArgumentType
    def number(self, message: int) -> None:
        pass

    @on_message  # expect-error: arg-type ArgumentType
    def wrong_second(self, message: PostCreated, received: EventMeta) -> None:
        pass


async def check(domain: Domain) -> None:
    Out("not a publisher")  # expect-error: arg-type ArgumentType
    Out(InMemoryPublisher(), converter="no")  # expect-error: arg-type ArgumentType
    Out(OldPublisher())  # expect-error: arg-type ArgumentType
    Out(Sends())  # expect-error: arg-type ArgumentType
    Inbox(object(), domain)  # expect-error: type-var ArgumentType
    Inbox(In(), "domain")  # expect-error: arg-type ArgumentType
    await Inbox(In(), domain).receive(b"{}")  # expect-error: arg-type ArgumentType
    Received("m", "t", "not bytes")  # expect-error: arg-type ArgumentType
