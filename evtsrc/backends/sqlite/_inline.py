"""Appends committed on the event loop's own thread, where a commit does not wait for the disk.

In WAL mode at `synchronous=NORMAL` or `OFF` a commit appends to the log and returns
without syncing the disk. Such an append costs less on the caller's thread than the
two hand-offs between threads that running it on the writer thread takes. Two kinds of
wait remain, and the `InlineWriter` takes neither on the caller's thread:

* another connection's write lock: it never waits for one (a busy timeout of 0), and
  the append goes to the writer thread, which waits up to `busy_timeout`;
* a checkpoint, which syncs the disk: it never checkpoints (`wal_autocheckpoint=0`).
  Every `CHECKPOINT_EVERY` commits the writer thread runs one, and appends go to
  the writer thread until it ends, as SQLite's own checkpoints keep the committing
  writer: the first append after it then starts the log over, which it would
  not do after frames appended while the checkpoint ran.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable

INLINE_LEVELS = ("OFF", "NORMAL")
"""The `synchronous` levels at which a WAL commit does not sync the disk."""

MOST_EVENTS = 32
"""Appends of more events go to the writer thread, where SQLite's work does not hold
the event loop (the sqlite3 module lets other threads run while it works)."""

CHECKPOINT_EVERY = 100
"""Commits between two checkpoints asked of the writer thread: about 400 log pages for
one-event appends, below SQLite's own `wal_autocheckpoint` of 1000."""

_SQLITE_BUSY = 5


class InlineWriter:
    """A writer connection for the thread that opened it, which never waits.

    Open it with `open()` (None where the journal is not WAL). Append through it while
    `ready()`; `begin()` says whether the write lock was free; after a commit, call
    `committed()`.
    """

    def __init__(
        self, connection: sqlite3.Connection, checkpoint: Callable[[], asyncio.Future[None]]
    ) -> None:
        self.connection = connection
        self._thread = threading.get_ident()
        self._checkpoint = checkpoint
        self._checkpointing: asyncio.Future[None] | None = None
        self._commits = 0

    @classmethod
    def open(
        cls,
        connect: Callable[[float], sqlite3.Connection],
        checkpoint: Callable[[], asyncio.Future[None]],
    ) -> InlineWriter | None:
        """A writer on `connect(0.0)`'s connection, or None if its journal is not WAL.

        `checkpoint()` checkpoints the log on the writer thread.
        """
        connection = connect(0.0)
        try:
            (mode,) = connection.execute("PRAGMA journal_mode").fetchone()
            if mode.lower() != "wal":
                connection.close()
                return None
            connection.execute("PRAGMA wal_autocheckpoint=0")
        except BaseException:
            connection.close()
            raise
        return cls(connection, checkpoint)

    def ready(self) -> bool:
        """Whether to append here: on this writer's thread, no checkpoint under way."""
        if self._checkpointing is not None:
            if not self._checkpointing.done():
                return False
            self._checkpointing = None
        return threading.get_ident() == self._thread

    def begin(self) -> bool:
        """Begin a write transaction if no other connection holds the write lock."""
        try:
            self.connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode & 0xFF == _SQLITE_BUSY:
                return False
            raise
        return True

    def committed(self) -> None:
        """Count a commit; every `CHECKPOINT_EVERY`, start a checkpoint."""
        self._commits += 1
        if self._commits % CHECKPOINT_EVERY == 0:
            self._checkpointing = self._checkpoint()

    def close(self) -> None:
        self.connection.close()
