"""Event storage on SQLite through the standard library's `sqlite3`: no dependency at all.

`SqliteBackend("events.sqlite")`, then `await backend.create_schema()` once (it
is idempotent). The tables are exactly those `SqlAlchemyBackend` creates on
SQLite, so the two backends read and write each other's files.

Each operation runs on a thread of the backend's own: one thread with the
connection that writes, one with the connection that reads (see
`SqliteBackend`). A database file that cannot be opened or read
(`SQLITE_CANTOPEN`, `SQLITE_IOERR`) raises `StoreUnavailable`. A write lock that
stays taken for `busy_timeout` seconds ("database is locked", `SQLITE_BUSY`) is
contention on a reachable store, not an outage: it stays
`sqlite3.OperationalError`, and nothing was written.
"""

from __future__ import annotations

from ..sql._sqlite_errors import SQLITE_CANTOPEN as SQLITE_CANTOPEN
from ..sql._sqlite_errors import SQLITE_IOERR as SQLITE_IOERR
from ..sql._sqlite_errors import UNREACHABLE_CODES as UNREACHABLE_CODES
from ..sql._sqlite_errors import translated as translated
from ..sql._sqlite_errors import unreachable as unreachable
from ._backend import SqliteBackend, Synchronous
from ._batch import SqliteBatchTransaction

__all__ = ["SqliteBackend", "SqliteBatchTransaction", "Synchronous"]
