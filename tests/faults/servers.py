"""Private database servers a fault test owns: it may kill their sessions and restart them.

Each one is started by `scripts/dbservers serve NAME` into a folder of its own on a
free port of 127.0.0.1, restarted with `halt` and `serve` on the same data and port,
and stopped at the end of the session even when a test failed. Servers shared with
other tests (`/tmp/servers.env`) are never touched. Under `CI=true` a server that
cannot start fails the test; elsewhere its tests skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import attrs
import pytest

from tests.backends import in_ci

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "dbservers"
START_BOUND = 180.0
"""Seconds a server may take to start (a first Neo4j start builds its launcher)."""


class ServerUnavailable(Exception):
    """A private server could not be started."""


@attrs.define
class Server:
    """One private server: `url` to connect to, `restart()` on the same data and port."""

    name: str
    folder: Path
    url: str = ""
    port: int = 0
    restarts: int = 0

    def _script(self, *arguments: str, timeout: float = START_BOUND) -> str:
        environment = {**os.environ, "EVTSRC_SERVERS_DIR": str(self.folder)}
        done = subprocess.run(
            ["bash", str(SCRIPT), *arguments],
            capture_output=True,
            text=True,
            env=environment,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise ServerUnavailable(
                f"scripts/dbservers {' '.join(arguments)} failed ({done.returncode}): "
                f"{done.stderr.strip()[-2000:]}"
            )
        return done.stdout

    def start(self) -> None:
        arguments = ["serve", self.name] + ([str(self.port)] if self.port else [])
        printed = self._script(*arguments)
        for line in printed.splitlines():
            if line.startswith("export ") and "=" in line:
                self.url = line.split("=", 1)[1].strip()
        if not self.url:
            raise ServerUnavailable(f"scripts/dbservers serve {self.name} printed no address")
        # A URL, or Kafka's bare host:port.
        port = self.url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[1]
        self.port = int(port.split("?", 1)[0])

    def stop(self, mode: str = "fast") -> None:
        self._script("halt", self.name, mode, timeout=60)

    async def restart(self, mode: str = "fast") -> None:
        """Stop the server (`fast`: a clean shutdown; `immediate`: a crash) and start it again."""
        await asyncio.to_thread(self.stop, mode)
        await asyncio.to_thread(self.start)
        self.restarts += 1


class Servers:
    """The private servers of a test session, started on first use."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="evtsrc-faults-"))
        self.root.chmod(0o755)  # the postgres and mysql users enter it
        self._servers: dict[str, Server] = {}
        self._failed: dict[str, str] = {}

    def get(self, name: str) -> Server:
        if name in self._failed:
            _unavailable(self._failed[name])
        server = self._servers.get(name)
        if server is None:
            folder = self.root / name
            folder.mkdir()
            folder.chmod(0o755)
            server = Server(name, folder)
            try:
                server.start()
            except (ServerUnavailable, subprocess.TimeoutExpired) as error:
                self._failed[name] = f"private {name} server: {error}"
                server.stop("immediate")
                _unavailable(self._failed[name])
            self._servers[name] = server
        return server

    def close(self) -> None:
        for server in self._servers.values():
            with contextlib.suppress(ServerUnavailable, subprocess.TimeoutExpired):
                server.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def _unavailable(message: str) -> None:
    if in_ci():
        pytest.fail(f"CI=true and {message}")
    pytest.skip(message)
