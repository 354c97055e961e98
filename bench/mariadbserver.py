"""A throwaway MariaDB server at its default durability (innodb_flush_log_at_trx_commit=1).

Started the way scripts/dbservers starts its server, as the `mysql` system user with its
data in a temporary folder, but without the flag that relaxes durability.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench.pgserver import free_port

USER = "bench"


def _require(program: str) -> str:
    found = shutil.which(program)
    if found is None:
        raise RuntimeError(f"{program} not found (install mariadb-server) and no --mariadb-url")
    return found


class DurableMariaDB:
    """Start with `start()`, which returns a SQLAlchemy URL; `stop()` stops it, deletes its data."""

    def __init__(self) -> None:
        self.server = _require("mariadbd")
        self.folder = Path(tempfile.mkdtemp(prefix="evtsrc-bench-mariadb-"))
        self.data = self.folder / "data"
        self.socket = self.folder / "mysqld.sock"
        self.process: subprocess.Popen[bytes] | None = None

    def _client(self, program: str, *args: str) -> subprocess.CompletedProcess[bytes]:
        command = [_require(program), "--no-defaults", "-uroot", f"--socket={self.socket}", *args]
        return subprocess.run(command, capture_output=True, check=False)

    def start(self) -> str:
        """Initialise a data folder, start the server on a free port, create a user."""
        if os.geteuid() == 0:
            shutil.chown(self.folder, "mysql", "mysql")
        with (self.folder / "install.log").open("wb") as log:
            subprocess.run(
                [
                    _require("mariadb-install-db"),
                    "--no-defaults",
                    "--user=mysql",
                    f"--datadir={self.data}",
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                check=True,
            )
        if os.geteuid() == 0:
            for path in (self.folder, *self.folder.rglob("*")):
                shutil.chown(path, "mysql", "mysql")
        port = free_port()
        self.process = subprocess.Popen(
            [
                self.server,
                "--no-defaults",
                "--user=mysql",
                f"--datadir={self.data}",
                f"--port={port}",
                "--bind-address=127.0.0.1",
                f"--socket={self.socket}",
                f"--pid-file={self.folder / 'mysqld.pid'}",
                f"--log-error={self.folder / 'error.log'}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait_ready()
        grant = f"GRANT ALL ON *.* TO '{USER}'@'%'; GRANT ALL ON *.* TO '{USER}'@'localhost';"
        created = self._client(
            "mariadb",
            "-e",
            f"CREATE USER '{USER}'@'%' IDENTIFIED BY '{USER}'; "
            f"CREATE USER '{USER}'@'localhost' IDENTIFIED BY '{USER}'; {grant}",
        )
        if created.returncode != 0:
            raise RuntimeError(f"MariaDB user setup failed: {created.stderr.decode()}")
        return f"mysql+asyncmy://{USER}:{USER}@127.0.0.1:{port}/"

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + 60
        while self._client("mariadb-admin", "ping").returncode != 0:
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = (self.folder / "error.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"MariaDB did not start:\n{log}")
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop the server (SIGTERM, a clean shutdown) and remove its folder."""
        try:
            if self.process is not None and self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(60)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
