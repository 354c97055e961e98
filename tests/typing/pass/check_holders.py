"""What an operator's tool asks of a store about running handlers: lease holders, members.

Every backend is a `LeaseHolders` and a `ListableMembers`, and so is `InMemoryBookmarks`;
a lease holder is reported as a `str` (None when the lease is free).
"""

from __future__ import annotations

from typing import assert_type

from evtsrc.backends import (
    Backend,
    GroupMembers,
    InMemoryBookmarks,
    LeaseHolders,
    ListableMembers,
)
from evtsrc.backends.base import process_label
from tests.typing.model import on_memory_and_sqlite


async def holders(stores: list[LeaseHolders], names: list[str]) -> dict[str, str]:
    """Who holds each of `names`, as `evtsrc status` would gather them (the free left out)."""
    found: dict[str, str] = {}
    for store in stores:
        for name in names:
            holder = await store.lease_holder(name)
            if holder is not None:
                found[name] = holder
    return found


async def on(backend: Backend) -> None:
    assert_type(await backend.lease_holder("seen"), str | None)
    assert_type(await backend.members("seen"), list[str])
    bookmarks = InMemoryBookmarks()
    assert_type(await bookmarks.lease_holder("seen"), str | None)
    assert_type(await bookmarks.members("seen"), list[str])
    store: LeaseHolders = backend
    listing: ListableMembers = backend
    in_memory: ListableMembers = bookmarks
    lease = backend.lease("seen#0/2")
    assert await lease.acquire()
    try:
        found = await holders([store, bookmarks], ["seen#0/2", "seen#1/2"])
        assert list(found) == ["seen#0/2"]
        assert process_label() in found["seen#0/2"]
    finally:
        await lease.release()
    assert isinstance(backend, GroupMembers)
    await backend.beat("seen", "2:a", 10.0)
    assert await listing.members("seen") == ["2:a"]
    assert await in_memory.members("seen") == []


async def main() -> None:
    await on_memory_and_sqlite(on)
