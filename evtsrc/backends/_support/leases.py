"""A lease that keeps one handler name active in one runner on a machine: a file lock."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from pathlib import Path

from ..base import process_label

UNNAMED = "a process that named no holder in the lock file"
"""The holder of a lock file that holds no label: an evtsrc before labels, or one writing it."""
MAX_LABEL_BYTES = 1024
"""The most of a lock file `lease_holder` reads."""


def lease_path(folder: Path, store: str, name: str) -> Path:
    """The lock file of lease `name` of the event store `store`, in `folder`."""
    digest = hashlib.sha256(f"{store}\0{name}".encode()).hexdigest()[:24]
    return folder / f".evtsrc-lease-{digest}"


class FileLease:
    """A lease held as an exclusive `flock` on a file: freed by the OS when the process dies.

    For stores that live on one machine's file system (SQLite). Runners of one
    process are kept apart too, since each lease opens the file itself. The holder
    writes its `process_label()` into the file once it has the lock (`file_lease_holder`).
    """

    def __init__(self, folder: Path, store: str, name: str) -> None:
        self.path = lease_path(folder, store, name)
        self._fd: int | None = None

    async def acquire(self) -> bool:
        """Take the lock if no process holds it."""
        if self._fd is not None:
            return True
        return await asyncio.to_thread(self._try_lock)

    def _try_lock(self) -> bool:
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        with contextlib.suppress(OSError):  # the lock is what counts: the label only informs
            os.ftruncate(fd, 0)
            os.pwrite(fd, process_label().encode("utf-8", "replace"), 0)
        self._fd = fd
        return True

    async def check(self) -> bool:
        """Whether this runner holds the lock."""
        return self._fd is not None

    async def release(self) -> None:
        """Unlock and close the file, its label wiped first (a killed holder's stays)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)


async def file_lease_holder(folder: Path, store: str, name: str) -> str | None:
    """Who holds `FileLease(folder, store, name)`: the label in its file; None if free.

    A shared lock tried without waiting tells whether another holds it, and is given up
    at once if it was taken: a holder is not disturbed (a runner taking the lease at
    that very moment finds it busy, and takes it at its next try).
    """
    return await asyncio.to_thread(_holder, lease_path(folder, store, name))


def _holder(path: Path) -> str | None:
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None  # never taken
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            label = os.pread(fd, MAX_LABEL_BYTES, 0).decode("utf-8", "replace").strip()
            return label or UNNAMED
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
