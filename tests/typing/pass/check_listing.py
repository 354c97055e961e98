"""What an operator's tool reads from a store: bookmarks, streams, a stream's aggregates,
how many events lie in a range.

Every backend lists them; so does `InMemoryBookmarks`, and any store of a handler's
own bookmarks that has `bookmarks()` is a `ListableBookmarks`.
"""

from __future__ import annotations

from typing import assert_type

from evtsrc.backends import (
    Backend,
    BookmarkStore,
    Bucket,
    InMemoryBookmarks,
    ListableBookmarks,
)
from tests.typing.model import Post, PostCounter, User, make_domain, on_memory_and_sqlite


class OwnBookmarks:
    """A bookmark store of a handler's own, which also lists what it holds."""

    def __init__(self) -> None:
        self.positions: dict[str, int] = {}

    async def get_bookmark(self, name: str) -> int:
        return self.positions.get(name, 0)

    async def set_bookmark(self, name: str, position: int) -> None:
        self.positions[name] = position

    async def bookmarks(self) -> dict[str, int]:
        return dict(sorted(self.positions.items()))


async def status(stores: list[ListableBookmarks]) -> dict[str, int]:
    """Every handler's position in every store, as `evtsrc status` would gather them."""
    found: dict[str, int] = {}
    for store in stores:
        found.update(await store.bookmarks())
    return found


async def every_aggregate(backend: Backend, stream: str) -> list[str]:
    """All of a stream's aggregate ids, a page at a time."""
    found: list[str] = []
    while page := await backend.aggregate_ids(stream, after=found[-1] if found else "", limit=2):
        found += page
        if len(page) < 2:
            break
    return found


async def listed(backend: Backend) -> None:
    assert_type(await backend.bookmarks(), dict[str, int])
    assert_type(await backend.streams(), list[str])
    assert_type(await backend.aggregate_ids("posts"), list[str])
    assert_type(await backend.aggregate_ids("posts", after="p1"), list[str])
    assert_type(await backend.aggregate_ids("posts", limit=10), list[str])
    assert_type(await backend.count_events(["posts"]), int)
    assert_type(await backend.count_events(("posts", "users"), after_position=2, up_to=9), int)
    assert_type(await backend.count_events(["posts"], bucket=Bucket(0, 2), up_to=None), int)
    assert_type(await InMemoryBookmarks().bookmarks(), dict[str, int])
    own = OwnBookmarks()
    store: BookmarkStore = own
    listing: ListableBookmarks = own
    in_memory: ListableBookmarks = InMemoryBookmarks()
    from_backend: ListableBookmarks = backend
    assert isinstance(store, ListableBookmarks)
    assert_type(await status([listing, in_memory, from_backend]), dict[str, int])


async def on(backend: Backend) -> None:
    domain = make_domain(backend)
    own = OwnBookmarks()
    await domain.repository(User).execute("u", User.create, name="Ann")
    posts = domain.repository(Post)
    for n in range(3):
        await posts.execute(f"p{n}", Post.create, user_id="u", content="c")
    await domain.handler(PostCounter(), bookmarks=own).run_once()
    await listed(backend)
    assert await every_aggregate(backend, "typing-posts") == ["p0", "p1", "p2"]
    assert await backend.streams() == ["typing-posts", "typing-users"]
    last = await backend.last_position(["typing-posts"])
    assert await status([own, backend]) == {"typing-post-counter": last}
    assert await backend.bookmarks() == {}  # the handler kept its bookmark in its own store
    assert await backend.count_events(["typing-posts", "typing-users"]) == 4


async def main() -> None:
    await on_memory_and_sqlite(on)
