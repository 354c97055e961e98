"""@on_event callbacks take (self, event) or (self, event, meta: EventMeta), returning None."""

from __future__ import annotations

from collections.abc import Sequence

from evtsrc import (
    Domain,
    Event,
    EventHandler,
    EventMeta,
    StoredEvent,
    TransactionalHandler,
    on_event,
)
from evtsrc.backends import FencedBookmarks, InMemoryBookmarks
from tests.typing.model import PostCounter, PostCreated, UserCreated


class AfterBatchReturnsNumbers(EventHandler):
    async def after_batch(  # expect-error: override IncompatibleMethodOverride
        self, events: Sequence[StoredEvent[Event]]
    ) -> int:
        return len(events)


class NotEvents(EventHandler):
    @on_event  # expect-error: type-var ArgumentType
    def number(self, event: int, meta: EventMeta) -> None:
        pass

    @on_event  # expect-error: type-var ArgumentType
    def text(self, event: str) -> None:
        pass

    @on_event  # expect-error: type-var ArgumentType
    def stored(self, event: StoredEvent[PostCreated]) -> None:
        pass

    @on_event  # expect-error: type-var ArgumentType
    def swapped(self, event: EventMeta, meta: PostCreated) -> None:
        pass


class BadMeta(EventHandler):
    @on_event  # expect-error: arg-type ArgumentType
    def text(self, event: PostCreated, meta: str) -> None:
        pass

    @on_event  # expect-error: arg-type ArgumentType
    async def number(self, event: UserCreated, meta: int) -> None:
        pass

    @on_event  # expect-error: arg-type ArgumentType
    def stored(self, event: PostCreated, meta: StoredEvent[PostCreated]) -> None:
        pass


class BadShapes(TransactionalHandler[object]):
    @on_event  # expect-error: arg-type ArgumentType
    def nothing(self) -> None:
        pass

    @on_event  # expect-error: arg-type ArgumentType
    def extra(self, event: PostCreated, meta: EventMeta, retries: int) -> None:
        pass

    @on_event  # expect-error: arg-type ArgumentType
    def keyword_meta(self, event: PostCreated, *, meta: EventMeta) -> None:
        pass

    @on_event  # expect-error: type-var ArgumentType
    async def returns(self, event: PostCreated) -> int:
        return 1


class Unsure(EventHandler, reads_metadata="no"):  # expect-error: arg-type ArgumentType
    @on_event
    def post(self, event: PostCreated, meta: EventMeta) -> None:
        pass


class UnfencedMove:
    async def move_bookmark(self, name: str, position: int) -> None:
        pass


fenced: FencedBookmarks = UnfencedMove()  # expect-error: assignment AssignmentType


async def moves() -> None:
    await InMemoryBookmarks().move_bookmark("h", "0", 1)  # expect-error: arg-type ArgumentType


def retries(domain: Domain) -> None:
    domain.handler(PostCounter(), retry=3)  # expect-error: arg-type ArgumentType
    domain.handler(PostCounter(), park="yes")  # expect-error: arg-type ArgumentType
    domain.handler_group(PostCounter())  # expect-error: call-arg CallIssue
    domain.handler_group(PostCounter(), buckets="4")  # expect-error: arg-type ArgumentType
    domain.handler_group(PostCounter(), buckets=4, park=1)  # expect-error: arg-type ArgumentType
