"""Versions of a handler's read model, for blue/green rebuilds.

Version 1 is the handler as it always ran: its bookmark and lease carry the handler's
name. Version N > 1 carries `<name>@N`, so a new version builds beside the live one.
Which version is live is stored as the bookmark `<name>@live` (its position is the
version number; none stored means 1), in the handler's bookmark store: every store
keeps it without a new table, and a fenced store swaps it compare-and-set.
"""

from __future__ import annotations

from .backends.base import BookmarkStore, FencedBookmarks

LIVE_SUFFIX = "@live"


def check_version(version: object) -> int:
    """`version` if it is an int of 1 or more; `TypeError` or `ValueError` otherwise."""
    if isinstance(version, bool) or not isinstance(version, int):
        raise TypeError(f"a handler version is an int, not {version!r}")
    if version < 1:
        raise ValueError(f"a handler version is 1 or more, not {version}")
    return version


class Versions:
    """The versions of handler `name`'s read model, kept in its bookmark store."""

    def __init__(self, store: BookmarkStore, name: str) -> None:
        self._store = store
        self._name = name
        self.live_name = name + LIVE_SUFFIX
        """The bookmark that holds the live version's number."""

    def bookmark_name(self, version: int) -> str:
        """The name of `version`'s bookmark and lease."""
        return self._name if version == 1 else f"{self._name}@{version}"

    async def live(self) -> int:
        """The live version: 1 until another was made live."""
        return await self._store.get_bookmark(self.live_name) or 1

    async def make_live(self, version: int) -> int:
        """Make `version` the live one; the version that was live before.

        On a `FencedBookmarks` store only from the version read just before:
        `BookmarkMoved` if another was made live in between.
        """
        stored = await self._store.get_bookmark(self.live_name)
        if isinstance(self._store, FencedBookmarks):
            await self._store.move_bookmark(self.live_name, stored, version)
        else:
            await self._store.set_bookmark(self.live_name, version)
        return stored or 1
