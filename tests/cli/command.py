"""Running the `evtsrc` command of this checkout in a subprocess, and the stores it runs on."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import attrs

from tests import backends

ROOT = Path(__file__).resolve().parents[2]
"""The checkout under test: the subprocess imports evtsrc (and tests.cli.app) from here."""

APP = "tests.cli.app:make_domain"
WIDTH = "200"
"""The width rich prints tables at (not a terminal: `COLUMNS`)."""


def environment(**extra: str) -> dict[str, str]:
    """The command's environment: this checkout first on the path, no store chosen for it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVTSRC_")}
    env.update(PYTHONPATH=str(ROOT), COLUMNS=WIDTH, **extra)
    return env


def command(*args: str) -> list[str]:
    """The command line that runs `evtsrc ARGS` from this checkout."""
    return [sys.executable, "-m", "evtsrc.cli", *args]


def evtsrc(
    *args: str, input: str | None = None, timeout: float = 60, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run `evtsrc ARGS` to its end; its output and exit status."""
    return subprocess.run(
        command(*args),
        cwd=ROOT,
        env=environment(**env),
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The error a failed run printed: exactly one line on stderr, exit 1, no traceback."""
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@attrs.frozen
class Store:
    """A store kind the command runs on: the variable naming its server (None: SQLite)."""

    name: str
    env: str | None

    def url(self, folder: Path) -> str:
        """The URL of a store of this kind (skipped, or failed under CI, without its server)."""
        if self.env is None:
            return f"sqlite:///{folder / 'events.db'}"
        return backends.server_location(self.env, self.name)


STORES = [
    Store("sqlite", None),
    Store("postgresql", backends.POSTGRES_ENV),
    Store("mariadb", backends.MARIADB_ENV),
    Store("mongodb", backends.MONGO_ENV),
    Store("neo4j", backends.NEO4J_ENV),
]


def new_prefix() -> str:
    """A table prefix no other test uses."""
    return f"cli{uuid.uuid4().hex[:8]}_"
