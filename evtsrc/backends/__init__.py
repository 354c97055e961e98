"""Storage backends. Each database backend is a module of its own, behind an optional extra."""

from .base import (
    AppendListener,
    Backend,
    BookmarkStore,
    EventRecord,
    NewEvent,
    PollingListener,
    SnapshotRecord,
)
from .memory import InMemoryBackend, InMemoryBookmarks
from .names import TableNames

__all__ = [
    "AppendListener",
    "Backend",
    "BookmarkStore",
    "EventRecord",
    "InMemoryBackend",
    "InMemoryBookmarks",
    "NewEvent",
    "PollingListener",
    "SnapshotRecord",
    "TableNames",
]
