"""A throwaway PostgreSQL server at its default durability (fsync and synchronous_commit on).

Started the way scripts/dbservers starts its server, as the `postgres` system user in a
temporary folder, but without the flags that turn durability off.
"""

from __future__ import annotations

import glob
import shlex
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    if not found:
        raise RuntimeError("PostgreSQL not found (install postgresql-15) and no --pg-dsn given")
    return Path(found[-1])


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(command: str) -> None:
    subprocess.run(
        ["su", "postgres", "-s", "/bin/sh", "-c", command],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


class DurablePostgres:
    """Start with `start()`, which returns the DSN; `stop()` stops it and deletes its data."""

    def __init__(self) -> None:
        self.bin = _pg_bin()
        self.folder = Path(tempfile.mkdtemp(prefix="evtsrc-bench-pg-"))
        self.data = self.folder / "data"

    def start(self) -> str:
        """Initialise a cluster and start the server on a free port."""
        shutil.chown(self.folder, "postgres", "postgres")
        port = free_port()
        initdb, pg_ctl = self.bin / "initdb", self.bin / "pg_ctl"
        _as_postgres(f"{initdb} -D {self.data} -U postgres -A trust -E UTF8")
        options = f"-p {port} -k /tmp -c listen_addresses=127.0.0.1"
        log = self.folder / "server.log"
        _as_postgres(f"{pg_ctl} -D {self.data} -l {log} -w -o {shlex.quote(options)} start")
        return f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its folder."""
        try:
            _as_postgres(f"{self.bin / 'pg_ctl'} -D {self.data} -m fast -w stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
