"""The small domain that the typing checks in pass/ and fail/ import.

It must type-check clean on its own: every way of declaring events,
aggregates, commands and handlers shown here is one the checkers accept.
"""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import assert_type

import attrs

from evtsrc import (
    Aggregate,
    CommandError,
    Decision,
    Domain,
    Event,
    EventHandler,
    EventMeta,
    Snapshots,
    command,
    folds,
    on_event,
)
from evtsrc.backends import Backend, InMemoryBackend, SqliteBackend


class UserCreated(Event, type_name="typing.user.created"):
    name: str
    tags: tuple[str, ...] = ()


class UserRenamed(Event, type_name="typing.user.renamed"):
    name: str
    reason: str = attrs.field(default="")


class UserDisabled(Event, type_name="typing.user.disabled"):
    pass


class PostCreated(Event):
    user_id: str
    content: str


class PostArchived(Event):
    pass


class User(Aggregate, stream="typing-users", snapshots=Snapshots(every=10)):
    name: str = ""
    enabled: bool = False
    tags: list[str] = attrs.field(factory=list[str])

    @folds
    def _created(self, event: UserCreated) -> None:
        self.name = event.name
        self.enabled = True
        self.tags = list(event.tags)

    @folds
    def _renamed(self, event: UserRenamed, meta: EventMeta) -> None:
        assert_type(meta.version, int)
        self.name = event.name

    @folds
    def _disabled(self, event: UserDisabled) -> None:
        self.enabled = False

    @command
    def create(self, name: str, tags: Sequence[str] = ()) -> UserCreated:
        if self.version:
            raise CommandError("user exists", code="USER_EXISTS")
        return UserCreated(name=name, tags=tuple(tags))

    @command
    def rename(self, name: str, *, reason: str = "") -> UserRenamed | None:
        return None if name == self.name else UserRenamed(name, reason=reason)

    @command
    def disable(self) -> list[UserDisabled]:
        return [UserDisabled()] if self.enabled else []

    @command
    def anything(self) -> Decision:
        return None


class Post(Aggregate, stream="typing-posts", snapshots=True):
    user_id: str = ""
    archived: bool = False

    @folds
    def _created(self, event: PostCreated) -> None:
        self.user_id = event.user_id

    @folds
    def _archived(self, event: PostArchived) -> None:
        self.archived = True

    @command
    async def create(self, user_id: str, content: str) -> PostCreated:
        author = await self.load(User, user_id)
        assert_type(author, User)
        if not author.enabled:
            raise CommandError("unknown user", code="UNAUTHORIZED")
        return PostCreated(user_id=user_id, content=content)

    @command
    async def archive(self) -> tuple[PostArchived, ...]:
        return () if self.archived else (PostArchived(),)


class PostCounter(EventHandler, name="typing-post-counter", streams=["typing-posts"]):
    def __init__(self) -> None:
        self.created = 0
        self.archived: list[str] = []

    @on_event
    def _created(self, event: PostCreated) -> None:
        self.created += 1

    @on_event
    async def _archived(self, event: PostArchived, meta: EventMeta) -> None:
        self.archived.append(meta.aggregate_id)


def make_domain(backend: Backend) -> Domain:
    return Domain(backend, aggregates=[User, Post])


async def on_memory_and_sqlite(check: Callable[[Backend], Awaitable[None]]) -> None:
    """Run `check` on a new in-memory backend, then on a new SQLite file."""
    await check(InMemoryBackend())
    with tempfile.TemporaryDirectory() as folder:
        async with SqliteBackend(Path(folder) / "events.db") as sqlite:
            await sqlite.create_schema()
            await check(sqlite)
