"""A lease that keeps one handler name active in one runner on a machine: a file lock."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path


class FileLease:
    """A lease held as an exclusive `flock` on a file: freed by the OS when the process dies.

    For stores that live on one machine's file system (SQLite). Runners of one
    process are kept apart too, since each lease opens the file itself.
    """

    def __init__(self, folder: Path, store: str, name: str) -> None:
        digest = hashlib.sha256(f"{store}\0{name}".encode()).hexdigest()[:24]
        self.path = folder / f".evtsrc-lease-{digest}"
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
        self._fd = fd
        return True

    async def check(self) -> bool:
        """Whether this runner holds the lock."""
        return self._fd is not None

    async def release(self) -> None:
        """Unlock and close the file."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
