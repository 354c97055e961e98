"""Repositories are typed by their aggregate: load and execute return it, commands are checked."""

from __future__ import annotations

from typing import TypeVar, assert_type

from evtsrc import (
    Aggregate,
    CommandError,
    Domain,
    Event,
    Repository,
    RetryPolicy,
    StoredEvent,
    VersionConflict,
)
from evtsrc.backends import InMemoryBackend
from tests.typing.model import Post, User, UserRenamed, make_domain

A = TypeVar("A", bound=Aggregate)


async def repositories(domain: Domain) -> None:
    users = domain.repository(User)
    assert_type(users, Repository[User])
    assert_type(domain.repository(Post), Repository[Post])
    assert_type(users.with_retry(RetryPolicy(attempts=5, backoff=0.01)), Repository[User])
    bounded = RetryPolicy(attempts=50, max_delay=0.25, budget=2.0, clock=lambda: 0.0)
    assert_type(users.with_retry(bounded), Repository[User])
    assert_type(bounded.max_delay, float)
    assert_type(bounded.budget, float | None)
    assert_type(bounded.delay(1000), float)
    assert_type(bounded.next_delay(3, 1.5), float | None)
    assert_type(users.aggregate, type[User])
    assert_type(users.stream, str)
    assert_type(domain.aggregates, tuple[type[Aggregate], ...])


async def commands(users: Repository[User], posts: Repository[Post]) -> None:
    # Arguments by keyword or position; defaults and keyword-only parameters may be left out.
    assert_type(await users.execute("alice", User.create, name="Alice"), User)
    assert_type(await users.execute("bob", User.create, "Bob", ["admin"]), User)
    assert_type(await users.execute("bob", User.rename, "Robert", reason="formal"), User)
    assert_type(await users.execute("bob", User.rename, name="Rob"), User)
    # Commands returning a list, None or the Decision alias.
    assert_type(await users.execute("bob", User.disable), User)
    assert_type(await users.execute("bob", User.anything), User)
    # Async commands, including one that loads another aggregate.
    assert_type(await posts.execute("hello", Post.create, user_id="alice", content="Hi"), Post)
    assert_type(await posts.execute("hello", Post.archive), Post)


async def reads(users: Repository[User]) -> None:
    user = await users.load("alice")
    assert_type(user, User)
    assert_type(user.id, str)
    assert_type(user.version, int)
    assert_type(user.name, str)
    assert_type(user.tags, list[str])
    assert_type(await users.history("alice"), list[StoredEvent[Event]])
    assert_type(await users.history("alice", after_version=1), list[StoredEvent[Event]])
    # Calling a command directly only decides: it keeps its own signature.
    assert_type(user.rename("Al"), UserRenamed | None)


async def load_all(repository: Repository[A], ids: list[str]) -> list[A]:
    """Generic code over any aggregate keeps the aggregate type."""
    return [await repository.load(aggregate_id) for aggregate_id in ids]


async def errors(users: Repository[User]) -> None:
    try:
        await users.execute("alice", User.create, name="again")
    except VersionConflict as conflict:
        assert_type(conflict.expected_version, int)
    except CommandError as error:
        assert_type(error.code, str)
        assert_type(error.message, str)


async def main() -> None:
    domain = make_domain(InMemoryBackend())
    await repositories(domain)
    users, posts = domain.repository(User), domain.repository(Post)
    await commands(users, posts)
    await reads(users)
    assert_type(await load_all(users, ["alice", "bob"]), list[User])
    await errors(users)
    await domain.close()
