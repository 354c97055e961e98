"""A fresh store for each measured run, removed afterwards.

The target handed to the child: "-" (memory), a new SQLite file, a new PostgreSQL or
MariaDB database (its URL), a MongoDB URI whose path names a new database, or a Neo4j
URI followed by "#" and a new label prefix (Neo4j Community has a single database).
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import uuid
from collections.abc import Generator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from bench.plan import SERVER_OF


def _with_path(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def _fresh_name() -> str:
    return f"bench_{uuid.uuid4().hex[:12]}"


@contextlib.contextmanager
def fresh_store(backend: str, servers: dict[str, str]) -> Generator[str, None, None]:
    """Yield the target of one run on `backend`; `servers` maps server kinds to addresses."""
    server = SERVER_OF.get(backend)
    address = servers[server] if server else ""
    name = _fresh_name()
    if backend == "memory":
        yield "-"
    elif backend.startswith("sqlite"):
        with tempfile.TemporaryDirectory(prefix="evtsrc-bench-") as folder:
            yield str(Path(folder) / "bench.sqlite")
    elif server == "postgres":
        with psycopg.connect(address, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield _with_path(address, name)
        finally:
            with psycopg.connect(address, autocommit=True) as admin:
                drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                admin.execute(drop.format(sql.Identifier(name)))
    elif server == "mariadb":
        asyncio.run(_mariadb(address, f"CREATE DATABASE `{name}`"))
        try:
            yield _with_path(address, name)
        finally:
            asyncio.run(_mariadb(address, f"DROP DATABASE IF EXISTS `{name}`"))
    elif server == "mongo":
        try:
            yield _with_path(address, name)
        finally:
            _drop_mongo(address, name)
    elif server == "neo4j":
        try:
            yield f"{address}#{name}_"
        finally:
            asyncio.run(_drop_neo4j(address, f"{name}_"))
    else:
        raise ValueError(f"unknown backend {backend!r}")


async def _mariadb(url: str, statement: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.exec_driver_sql(statement)
    finally:
        await engine.dispose()


def _drop_mongo(uri: str, name: str) -> None:
    from pymongo import MongoClient

    client: MongoClient[dict[str, object]] = MongoClient(uri)
    try:
        client.drop_database(name)
    finally:
        client.close()


async def _drop_neo4j(uri: str, prefix: str) -> None:
    from evtsrc.backends import TableNames
    from evtsrc.backends.neo4j import Neo4jBackend

    backend = Neo4jBackend.connect(uri, labels=TableNames(prefix=prefix))
    try:
        await backend.drop_schema()
    finally:
        await backend.close()
