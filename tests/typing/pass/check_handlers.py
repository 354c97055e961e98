"""Handler runners are typed by their handler; the hooks can be overridden with their types."""

from __future__ import annotations

from collections.abc import Sequence
from typing import assert_type

from evtsrc import (
    Domain,
    Event,
    EventHandler,
    EventMeta,
    HandlerRunner,
    StoredEvent,
    on_event,
)
from evtsrc.backends import InMemoryBackend, InMemoryBookmarks
from tests.typing.model import Post, PostCounter, PostCreated, User, make_domain


class Audit(EventHandler, name="typing-audit"):
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.batches = 0

    @on_event
    async def _post(self, event: PostCreated, meta: EventMeta) -> None:
        self.lines.append(f"{meta.position}: {event.content}")

    async def before_batch(self, events: Sequence[StoredEvent[Event]]) -> None:
        self.batches += 1

    async def on_error(self, error: Exception, event: Event | None, meta: EventMeta) -> None:
        self.lines.append(f"failed: {error!r}")

    async def on_reset(self) -> None:
        self.lines.clear()


async def runners(domain: Domain) -> None:
    counter = domain.handler(PostCounter())
    assert_type(counter, HandlerRunner[PostCounter])
    assert_type(counter.handler, PostCounter)
    assert_type(counter.handler.archived, list[str])
    assert_type(counter.name, str)
    assert_type(counter.streams, tuple[str, ...])
    assert_type(await counter.run_once(), int)
    assert_type(await counter.position(), int)
    assert_type(counter.running, bool)
    assert_type(counter.last_error, BaseException | None)

    audit = domain.handler(
        Audit(), bookmarks=InMemoryBookmarks(), tail_stream=True, continue_on_error=True
    )
    assert_type(audit.handler.lines, list[str])
    await audit.set_position(0)
    await audit.reset()
    await audit.start()
    await audit.stop()


def generic(runner: HandlerRunner[EventHandler]) -> str:
    return runner.name


async def main() -> None:
    domain = make_domain(InMemoryBackend())
    await domain.repository(User).execute("alice", User.create, name="Alice")
    await domain.repository(Post).execute("p", Post.create, user_id="alice", content="Hi")
    await runners(domain)
    assert generic(domain.handler(Audit())) == "typing-audit"
    await domain.close()
