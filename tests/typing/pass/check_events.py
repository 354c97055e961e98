"""Events are typed, frozen attrs classes; stored events keep their type through narrowing."""

from __future__ import annotations

from datetime import datetime
from typing import assert_type

import attrs

from evtsrc import Event, EventMeta, StoredEvent
from evtsrc.backends import InMemoryBackend
from tests.typing.model import (
    PostArchived,
    User,
    UserCreated,
    UserDisabled,
    UserRenamed,
    make_domain,
)


def constructors() -> None:
    created = UserCreated(name="alice")
    assert_type(created, UserCreated)
    assert_type(created.name, str)
    assert_type(created.tags, tuple[str, ...])
    assert_type(UserCreated("alice", ("admin",)), UserCreated)
    assert_type(UserRenamed(name="bob", reason="typo").reason, str)
    assert_type(UserDisabled(), UserDisabled)
    assert_type(PostArchived(), PostArchived)
    assert_type(UserCreated.__event_type__, str)
    assert created == UserCreated(name="alice")
    assert hash(created) == hash(UserCreated(name="alice"))
    assert attrs.asdict(created) == {"name": "alice", "tags": ()}
    assert [field.name for field in attrs.fields(UserCreated)] == ["name", "tags"]
    base: Event = created
    assert base is created


def meta_for_a_test(when: datetime) -> EventMeta:
    meta = EventMeta("users", "u-1", 1, 10, when, "user.created")
    assert_type(meta.version, int)
    return meta


def describe(stored: StoredEvent[Event]) -> str:
    meta = stored.meta
    assert_type(meta, EventMeta)
    assert_type(meta.stream, str)
    assert_type(meta.aggregate_id, str)
    assert_type(meta.version, int)
    assert_type(meta.position, int)
    assert_type(meta.timestamp, datetime)
    assert_type(meta.type_name, str)
    match stored.event:
        case UserCreated(name=name):
            assert_type(name, str)
            return f"created {name}"
        case UserRenamed() as renamed:
            assert_type(renamed, UserRenamed)
            return f"renamed to {renamed.name}"
        case _:
            return type(stored.event).__event_type__


def first_created(history: list[StoredEvent[Event]]) -> StoredEvent[UserCreated] | None:
    for stored in history:
        if isinstance(stored.event, UserCreated):
            # StoredEvent is covariant and frozen: rebuilding it narrows it.
            return StoredEvent(stored.event, stored.meta)
    return None


def widen(stored: StoredEvent[UserCreated]) -> StoredEvent[Event]:
    return stored


async def main() -> None:
    constructors()
    domain = make_domain(InMemoryBackend())
    users = domain.repository(User)
    await users.execute("alice", User.create, name="Alice")
    await users.execute("alice", User.rename, name="Alicia")
    history = await users.history("alice")
    assert [describe(stored) for stored in history] == ["created Alice", "renamed to Alicia"]
    found = first_created(history)
    assert found is not None
    assert_type(found.event.name, str)
    assert widen(found).meta.version == 1
