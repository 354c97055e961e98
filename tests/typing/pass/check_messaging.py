"""The relay and the inbox: what type-checks."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import assert_type

from evtsrc import Event, EventMeta, StoredEvent, on_event
from evtsrc.backends import InMemoryBackend
from evtsrc.messaging import (
    Inbox,
    InboxHandler,
    InMemoryPublisher,
    Message,
    Outcome,
    Publisher,
    Received,
    Relay,
    on_message,
)
from tests.typing.model import Post, PostCreated, User, UserCreated, make_domain


class Notice(Event, type_name="notice"):
    """An integration message."""

    post: str


class Out(Relay, name="out"):
    @on_event
    def created(self, event: PostCreated, meta: EventMeta) -> None:
        self.forward(event, meta)
        self.forward(event, meta, to="elsewhere")
        self.publish(Notice(post=meta.aggregate_id), meta, to="notices")


class Later:
    """A publisher of its own: acknowledgements come later."""

    async def send(self, messages: Sequence[Message]) -> asyncio.Task[None]:
        return asyncio.ensure_future(asyncio.sleep(0))

    async def close(self) -> None:
        pass


class Counted(Relay, name="counted"):
    """A relay that looks at what the publisher returned."""

    async def after_batch(self, events: Sequence[StoredEvent[Event]]) -> Awaitable[None] | None:
        acknowledged = await super().after_batch(events)
        assert_type(acknowledged, Awaitable[None] | None)
        return acknowledged


class In(InboxHandler, name="in"):
    @on_message
    async def notice(self, message: Notice, received: Received) -> None:
        assert_type(received.message_id, str)
        assert_type(received.headers.get("x"), str | None)

    @on_message
    def user(self, message: UserCreated) -> None:
        pass


async def main() -> None:
    domain = make_domain(InMemoryBackend())
    await domain.repository(User).execute("u1", User.create, name="Ann")
    await domain.repository(Post).execute("p1", Post.create, user_id="u1", content="hi")
    publisher = InMemoryPublisher()
    relay = Out(publisher)
    as_publisher: Publisher = publisher
    later: Publisher = Later()
    Counted(later)
    runner = domain.handler(relay)
    group = domain.handler_group(relay, buckets=4)
    assert_type(runner.handler, Out)
    assert_type(group.handler, Out)
    assert await runner.run_once() == 1
    await relay.close()
    assert len(publisher.messages) == 3 and as_publisher is publisher
    inbox = Inbox(In(), domain)
    assert_type(inbox, Inbox[In])
    assert_type(await inbox.receive(Received("m", "notice", b'{"post": "p1"}')), bool)
    headers = {"evtsrc-type": "notice", "evtsrc-message-id": "m2"}
    assert_type(Received.of(b"{}", headers), Received)
    message = Message("id", "key", "notice", b"{}", {})
    assert_type(message.destination, str | None)
    outcome: Outcome = Outcome.HANDLED
    assert outcome is not Outcome.REJECTED
    await domain.close()
