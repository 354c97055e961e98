"""Run the blog example: `python -m examples.blog`.

It stores events in the SQLite file `blog.sqlite` in the current folder (with
`SqliteBackend`, which needs nothing beyond the standard library). Set
`BLOG_DATABASE_URL` to use another database, e.g. `postgresql://user@host/db`
(asyncpg), `mariadb://user:pw@host/db`, `mongodb://host/blog?replicaSet=rs0` or
`neo4j://host:7687`: any URL `evtsrc.connect` takes.
"""

from __future__ import annotations

import asyncio
import os
import uuid

from evtsrc import CommandError, connect
from evtsrc.backends import Backend, InMemoryBookmarks

from .domain import make_domain
from .posts import Post
from .read_model import PostsModel
from .users import User

DEFAULT_URL = "sqlite:///blog.sqlite"


async def open_backend(url: str) -> Backend:
    """The backend for `url`, with its tables (collections, constraints) created if need be."""
    backend = await connect(url)
    await backend.create_schema()
    return backend


async def main() -> None:
    url = os.environ.get("BLOG_DATABASE_URL", DEFAULT_URL)
    domain = make_domain(await open_backend(url))
    print(f"storing events in {url}")
    users, posts = domain.repository(User), domain.repository(Post)
    run = uuid.uuid4().hex[:6]  # fresh ids, so the example can run again on the same file
    alice, hello = f"alice-{run}", f"hello-{run}"

    print(f"created {await users.execute(alice, User.create, name='Alice')}")
    print(f"created {await posts.execute(hello, Post.create, user_id=alice, content='Hello')}")

    for attempt in (
        posts.execute(f"spam-{run}", Post.create, user_id="mallory", content="Buy now"),
        posts.execute(hello, Post.archive, user_id="bob"),
    ):
        try:
            await attempt
        except CommandError as error:
            print(f"refused: {error.message} ({error.code})")

    print(f"archived {await posts.execute(hello, Post.archive, user_id=alice)}")

    # This read model lives in memory, so it keeps its bookmark in memory too and
    # rebuilds from the first event on every start.
    model = domain.handler(PostsModel(), bookmarks=InMemoryBookmarks())
    handled = await model.run_once()
    print(f"read model handled {handled} events; this run's post: {model.handler.rows[hello]}")
    for stored in await posts.history(hello):
        print(f"  v{stored.meta.version} @{stored.meta.position} {stored.event}")
    await domain.close()


if __name__ == "__main__":
    asyncio.run(main())
