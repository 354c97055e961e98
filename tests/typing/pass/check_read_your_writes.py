"""Read-your-writes is typed: an aggregate's `last_position` is an int a runner waits for."""

from __future__ import annotations

from typing import assert_type

from evtsrc import Domain, EvtsrcError, HandlerBehind, HandlerRunner, Repository
from evtsrc.backends import InMemoryBackend
from tests.typing.model import Post, PostCounter, User, make_domain


async def read_your_writes(domain: Domain, users: Repository[User]) -> None:
    user = await users.execute("alice", User.create, name="Alice")
    assert_type(user.last_position, int)
    assert_type((await users.load("alice")).last_position, int)
    runner = domain.handler(PostCounter())
    assert_type(runner, HandlerRunner[PostCounter])
    # PostCounter reads no user events: the position of one does not keep it waiting.
    assert_type(await runner.wait_for(user.last_position, timeout=1.0), None)
    await runner.wait_for(0, timeout=2)  # an int is a float to the checkers


async def behind(domain: Domain, posts: Repository[Post]) -> str:
    post = await posts.execute("p", Post.create, user_id="alice", content="Hi")
    runner = domain.handler(PostCounter())
    try:
        await runner.wait_for(post.last_position, timeout=0.05)  # nothing runs it
    except HandlerBehind as error:
        assert_type(error.handler, str)
        assert_type(error.position, int)
        assert_type(error.reached, int)
        base: EvtsrcError = error
        late: TimeoutError = error
        return f"{base} {late.args}"
    return "not behind"


async def main() -> None:
    domain = make_domain(InMemoryBackend())
    await read_your_writes(domain, domain.repository(User))
    assert (await behind(domain, domain.repository(Post))).startswith("handler")
    await domain.close()
