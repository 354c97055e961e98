"""Domains hold aggregates and backends; repositories and runners take their classes' types."""

from __future__ import annotations

from evtsrc import Domain, HandlerRunner, Repository, RetryPolicy
from evtsrc.backends import InMemoryBackend
from tests.typing.model import Post, PostCounter, User, UserCreated


def domains() -> None:
    Domain(InMemoryBackend(), aggregates=[UserCreated])  # expect-error: list-item ArgumentType
    Domain(InMemoryBackend(), aggregates=User)  # expect-error: arg-type ArgumentType
    Domain(object(), aggregates=[User])  # expect-error: arg-type ArgumentType
    Domain(InMemoryBackend(), [User], retry=3)  # expect-error: arg-type ArgumentType
    Domain(InMemoryBackend(), [User], cache_size="big")  # expect-error: arg-type ArgumentType


def repositories(domain: Domain) -> None:
    domain.repository(UserCreated)  # expect-error: type-var ArgumentType
    domain.repository(User())  # expect-error: arg-type ArgumentType
    domain.repository(int)  # expect-error: type-var ArgumentType
    domain.repository("User")  # expect-error: arg-type ArgumentType
    posts: Repository[Post] = domain.repository(User)  # expect-error: arg-type AssignmentType
    domain.repository(User).with_retry(3)  # expect-error: arg-type ArgumentType
    print(posts)


async def loads(domain: Domain, users: Repository[User]) -> None:
    post: Post = await users.load("a")  # expect-error: assignment AssignmentType
    user: User = users.load("a")  # expect-error: assignment AssignmentType
    await users.load("a").name  # expect-error: attr-defined AttributeAccessIssue
    print((await users.load("a")).title)  # expect-error: attr-defined AttributeAccessIssue
    print(post, user)


async def load_inside(user: User) -> None:
    await user.load(UserCreated, "a")  # expect-error: type-var ArgumentType
    post: Post = await user.load(User, "a")  # expect-error: arg-type AssignmentType
    print(post)


def handlers(domain: Domain) -> None:
    domain.handler(object())  # expect-error: type-var ArgumentType
    domain.handler(PostCounter)  # expect-error: type-var ArgumentType
    domain.handler(PostCounter(), batch_size="10")  # expect-error: arg-type ArgumentType
    runner = domain.handler(PostCounter())
    print(runner.handler.rows)  # expect-error: attr-defined AttributeAccessIssue
    other: HandlerRunner[Other] = runner  # expect-error: assignment AssignmentType
    print(other, RetryPolicy(attempts=1.5))  # expect-error: arg-type ArgumentType
    RetryPolicy(budget="2s")  # expect-error: arg-type ArgumentType
    RetryPolicy(max_delay=None)  # expect-error: arg-type ArgumentType
    RetryPolicy(clock=0.0)  # expect-error: arg-type ArgumentType
    RetryPolicy(3, 0.01, 0.1, 2.0, lambda: 0.0)  # expect-error: call-arg CallIssue


class Other(PostCounter):
    pass
