"""Fresh databases, one per measured run, and the server settings to report."""

from __future__ import annotations

import contextlib
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

SETTINGS = ("server_version", "fsync", "synchronous_commit", "full_page_writes", "wal_level")


def _with_database(dsn: str, name: str) -> str:
    url = urlsplit(dsn)
    return urlunsplit(url._replace(path=f"/{name}"))


@contextlib.contextmanager
def fresh_store(backend: str, pg_dsn: str | None) -> Iterator[str]:
    """Yield a target for one run: '-' (memory), a new SQLite path, or a new PostgreSQL DB."""
    if backend == "memory":
        yield "-"
    elif backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="evtsrc-bench-") as folder:
            yield str(Path(folder) / "bench.sqlite")
    elif backend == "postgres":
        if pg_dsn is None:
            raise ValueError("PostgreSQL runs need a server")
        name = f"bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(pg_dsn, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield _with_database(pg_dsn, name)
        finally:
            with psycopg.connect(pg_dsn, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        raise ValueError(f"unknown backend {backend!r}")


def postgres_settings(pg_dsn: str) -> dict[str, str]:
    """What `SHOW` reports for the settings that decide durability."""
    with psycopg.connect(pg_dsn, autocommit=True) as connection:
        found: dict[str, str] = {}
        for setting in SETTINGS:
            row = connection.execute(f"SHOW {setting}").fetchone()
            found[setting] = str(row[0]) if row else "?"
        return found
