"""Run the blog example: ``python -m examples.blog``."""

from __future__ import annotations

import asyncio

from evtsrc import CommandError
from evtsrc.backends import InMemoryBackend

from .domain import make_domain
from .posts import Post
from .read_model import PostsModel
from .users import User


async def main() -> None:
    domain = make_domain(InMemoryBackend())
    users, posts = domain.repository(User), domain.repository(Post)

    alice = await users.execute("alice", User.create, name="Alice")
    print(f"created {alice}")
    post = await posts.execute("hello", Post.create, user_id="alice", content="Hello, world")
    print(f"created {post}")

    for attempt in (
        posts.execute("spam", Post.create, user_id="mallory", content="Buy now"),
        posts.execute("hello", Post.archive, user_id="bob"),
    ):
        try:
            await attempt
        except CommandError as error:
            print(f"refused: {error.message} ({error.code})")

    post = await posts.execute("hello", Post.archive, user_id="alice")
    print(f"archived {post}")

    model = domain.handler(PostsModel())
    handled = await model.run_once()
    print(f"read model handled {handled} events: {list(model.handler.rows.values())}")
    for stored in await posts.history("hello"):
        print(f"  v{stored.meta.version} @{stored.meta.position} {stored.event}")
    await domain.close()


if __name__ == "__main__":
    asyncio.run(main())
