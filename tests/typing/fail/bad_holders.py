"""Misused lease holders and members: a name that is not a str, a report used as a str."""

from __future__ import annotations

from evtsrc.backends import Backend, InMemoryBookmarks, LeaseHolders, ListableMembers


async def asks(backend: Backend, bookmarks: InMemoryBookmarks) -> list[int]:
    await backend.lease_holder(7)  # expect-error: arg-type ArgumentType
    await backend.members(None)  # expect-error: arg-type ArgumentType
    await bookmarks.lease_holder(b"seen")  # expect-error: arg-type ArgumentType
    holder = await backend.lease_holder("seen")
    holder.upper()  # expect-error: union-attr OptionalMemberAccess
    return await backend.members("seen")  # expect-error: return-value ReturnType


class NoHolders:
    """Neither a `LeaseHolders` nor a `ListableMembers`: its methods are not async."""

    def lease_holder(self, name: str) -> str | None:
        return None

    def members(self, group: str) -> list[str]:
        return []


def status(holders: LeaseHolders, members: ListableMembers) -> None:
    """What `evtsrc status` is given."""


def stores(bookmarks: InMemoryBookmarks) -> None:
    status(bookmarks, bookmarks)
    status(NoHolders(), bookmarks)  # expect-error: arg-type ArgumentType
    status(bookmarks, NoHolders())  # expect-error: arg-type ArgumentType
