"""Storage backends. Each database backend is a module or package of its own, behind an extra.

`InMemoryBackend` and `SqliteBackend` (the standard library's `sqlite3`) need no extra
and are importable from here.
"""

from .._jsontypes import JSON, JSONObject
from .base import (
    NOT_READ,
    AppendListener,
    Backend,
    BookmarkStore,
    EventRecord,
    FencedBookmarks,
    NewEvent,
    ParkedAggregate,
    ParkedEvents,
    PollingListener,
    SnapshotRecord,
    UndecodablePayload,
)
from .memory import InMemoryBackend, InMemoryBookmarks
from .names import TableNames
from .sqlite import SqliteBackend

__all__ = [
    "JSON",
    "NOT_READ",
    "JSONObject",
    "AppendListener",
    "Backend",
    "BookmarkStore",
    "EventRecord",
    "FencedBookmarks",
    "InMemoryBackend",
    "InMemoryBookmarks",
    "NewEvent",
    "ParkedAggregate",
    "ParkedEvents",
    "PollingListener",
    "SnapshotRecord",
    "SqliteBackend",
    "TableNames",
    "UndecodablePayload",
]
