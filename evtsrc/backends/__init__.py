"""Storage backends. Each database backend is a module or package of its own, behind an extra.

`InMemoryBackend` and `SqliteBackend` (the standard library's `sqlite3`) need no extra
and are importable from here; `connect(url)` gives any backend from its store's URL.
"""

from .._jsontypes import JSON, JSONObject
from .base import (
    NOT_READ,
    AppendListener,
    Backend,
    BookmarkStore,
    Bucket,
    EventRecord,
    FencedBookmarks,
    GroupMembers,
    LeaseHolders,
    ListableBookmarks,
    ListableMembers,
    NewEvent,
    Once,
    ParkedAggregate,
    ParkedEvents,
    PollingListener,
    ProcessedMessages,
    SnapshotRecord,
    UndecodablePayload,
    bucket_key,
)
from .memory import InMemoryBackend, InMemoryBookmarks
from .names import TableNames
from .sqlite import SqliteBackend
from .urls import connect

__all__ = [
    "JSON",
    "NOT_READ",
    "JSONObject",
    "AppendListener",
    "Backend",
    "BookmarkStore",
    "Bucket",
    "EventRecord",
    "FencedBookmarks",
    "GroupMembers",
    "InMemoryBackend",
    "InMemoryBookmarks",
    "LeaseHolders",
    "ListableBookmarks",
    "ListableMembers",
    "NewEvent",
    "Once",
    "ParkedAggregate",
    "ParkedEvents",
    "PollingListener",
    "ProcessedMessages",
    "SnapshotRecord",
    "SqliteBackend",
    "TableNames",
    "UndecodablePayload",
    "bucket_key",
    "connect",
]
