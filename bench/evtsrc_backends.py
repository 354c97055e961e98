"""The evtsrc backend of each target, built with its schema, and what SQLite really runs with."""

from __future__ import annotations

import contextlib
import sqlite3
from typing import Any

from evtsrc.backends import Backend, TableNames

SYNCHRONOUS = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


async def make_backend(kind: str, target: str) -> Backend:
    """A backend with its schema over `target`, a store from `bench.stores.fresh_store`."""
    backend: Backend
    if kind == "memory":
        from evtsrc.backends import InMemoryBackend

        return InMemoryBackend()
    if kind in ("sqlite", "sqlalchemy-postgres", "mariadb"):
        from evtsrc.backends.sqlalchemy import SqlAlchemyBackend

        url = {
            "sqlite": f"sqlite+aiosqlite:///{target}",
            "sqlalchemy-postgres": target.replace("postgresql://", "postgresql+asyncpg://", 1),
            "mariadb": target,
        }[kind]
        backend = SqlAlchemyBackend(url)
    elif kind in ("sqlite-stdlib", "sqlite-stdlib-full"):
        from evtsrc.backends.sqlite import SqliteBackend

        # "-full": every commit waits for the disk, as eventsourcing's SQLite does.
        full = kind == "sqlite-stdlib-full"
        backend = SqliteBackend(target, synchronous="FULL") if full else SqliteBackend(target)
    elif kind == "postgres":
        from evtsrc.backends.postgres import PostgresBackend

        backend = await PostgresBackend.connect(target)
    elif kind == "mongo":
        from pymongo.uri_parser import parse_uri

        from evtsrc.backends.mongo import MongoBackend

        backend = MongoBackend.connect(target, parse_uri(target)["database"])
    elif kind == "neo4j":
        from evtsrc.backends.neo4j import Neo4jBackend

        uri, _, prefix = target.partition("#")
        backend = Neo4jBackend.connect(uri, labels=TableNames(prefix=prefix))
    else:
        raise ValueError(f"unknown evtsrc backend {kind!r}")
    await backend.create_schema()
    return backend


async def store_settings(kind: str, backend: Backend) -> dict[str, Any]:
    """For SQLite, the journal mode and synchronous level of the backend's own connections."""
    if kind in ("sqlite-stdlib", "sqlite-stdlib-full"):
        # Its connections live on its threads: WAL is a property of the file, and
        # `synchronous` is the level the backend sets on each connection it opens.
        with contextlib.closing(sqlite3.connect(getattr(backend, "path"))) as connection:  # noqa: B009
            mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
        return {"journal_mode": str(mode), "synchronous": str(getattr(backend, "synchronous"))}  # noqa: B009
    if kind != "sqlite":
        return {}
    engine = getattr(backend, "engine", None)
    if engine is None:
        return {"sqlite": f"unknown: {type(backend).__qualname__} has no engine to ask"}
    async with engine.connect() as connection:
        mode = (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar()
        level = (await connection.exec_driver_sql("PRAGMA synchronous")).scalar()
    return {"journal_mode": str(mode), "synchronous": SYNCHRONOUS.get(level, str(level))}
