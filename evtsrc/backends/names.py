"""The names of an event store's tables, collections or labels, derived from one prefix."""

from __future__ import annotations

import attrs

from .._storable import MAX_ID_LENGTH

NAME_LENGTH = MAX_ID_LENGTH
"""The longest stream name, aggregate id, type name, snapshot key or bookmark name stored."""


@attrs.frozen
class TableNames:
    """A store's tables: `prefix` + events, snapshots, bookmarks, parked, members, processed."""

    prefix: str = "evtsrc_"

    @property
    def events(self) -> str:
        """The events table."""
        return f"{self.prefix}events"

    @property
    def snapshots(self) -> str:
        """The snapshots table."""
        return f"{self.prefix}snapshots"

    @property
    def bookmarks(self) -> str:
        """The handler bookmarks table."""
        return f"{self.prefix}bookmarks"

    @property
    def parked(self) -> str:
        """The table of handlers' parked aggregates (dead letters)."""
        return f"{self.prefix}parked"

    @property
    def members(self) -> str:
        """The table of the live members of handler groups."""
        return f"{self.prefix}members"

    @property
    def processed(self) -> str:
        """The table of the message keys inboxes processed (`ProcessedMessages`)."""
        return f"{self.prefix}processed"

    @property
    def version_constraint(self) -> str:
        """The unique constraint whose violation means a version conflict."""
        return f"{self.events}_version_uq"

    @property
    def stream_index(self) -> str:
        """The index of the events table that reads a stream in position order."""
        return f"{self.events}_stream_ix"
