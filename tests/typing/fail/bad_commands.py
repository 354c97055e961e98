"""Repository.execute checks the command against the repository's aggregate and its arguments."""

from __future__ import annotations

from collections.abc import Iterator

from evtsrc import Aggregate, Repository, command, folds
from tests.typing.model import Post, User, UserCreated


class Odd(Aggregate, stream="typing-odd"):
    @folds
    def _created(self, event: UserCreated) -> None:
        pass

    @command  # expect-error: type-var ArgumentType
    def number(self) -> int:
        return 1

    @command  # expect-error: type-var ArgumentType
    async def later(self) -> str:
        return ""

    @command  # expect-error: type-var ArgumentType
    def strings(self) -> list[str]:
        return []

    @command  # expect-error: type-var ArgumentType
    def generate(self) -> Iterator[UserCreated]:
        yield UserCreated(name="x")


async def arguments(users: Repository[User]) -> None:
    await users.execute("a", User.create, nam="Al")  # expect-error: call-arg CallIssue
    await users.execute("a", User.create, name=1)  # expect-error: arg-type ArgumentType
    await users.execute("a", User.create, "Al", [1])  # expect-error: list-item ArgumentType
    await users.execute("a", User.create)  # expect-error: call-arg CallIssue
    await users.execute("a", User.disable, "x")  # expect-error: call-arg CallIssue
    await users.execute("a", User.rename, "Al", "why")  # expect-error: call-arg CallIssue
    await users.execute("a", User.rename, reason="why")  # expect-error: call-arg CallIssue


async def wrong_aggregate(users: Repository[User], posts: Repository[Post]) -> None:
    await users.execute("a", Post.archive)  # expect-error: arg-type ArgumentType
    await posts.execute("a", User.disable)  # expect-error: arg-type ArgumentType


async def not_a_command(users: Repository[User]) -> None:
    user = await users.load("a")
    await users.execute("a", user.disable)  # expect-error: arg-type ArgumentType
    await users.execute("a", len, "x")  # expect-error: arg-type ArgumentType
    await users.execute("a", User)  # expect-error: arg-type ArgumentType


async def wrong_id(users: Repository[User]) -> None:
    await users.execute(1, User.disable)  # expect-error: arg-type ArgumentType
    await users.load(None)  # expect-error: arg-type ArgumentType
    await users.history(b"a")  # expect-error: arg-type ArgumentType


async def results(users: Repository[User]) -> None:
    post: Post = await users.execute("a", User.disable)  # expect-error: assignment AssignmentType
    print(post)
    print(users.execute("a", User.disable).name)  # expect-error: attr-defined AttributeAccessIssue


async def not_an_event(odd: Repository[Odd]) -> None:
    await odd.execute("a", Odd.number)  # expect-error: arg-type ArgumentType
    await odd.execute("a", Odd.later)  # expect-error: arg-type ArgumentType
    await odd.execute("a", Odd.strings)  # expect-error: arg-type ArgumentType
    await odd.execute("a", Odd.generate)  # expect-error: arg-type ArgumentType
