"""The backends the tests run against: the conformance suite and the backend-specific tests.

Each target names the environment variable that points it at a server (None
for embedded backends). A target whose variable is unset is skipped locally
and fails the run under ``CI=true``: CI must start every server.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import attrs
import pytest

from evtsrc.backends import Backend, InMemoryBackend, TableNames

POSTGRES_ENV = "EVTSRC_TEST_POSTGRES_DSN"
"""A libpq-style URL of a PostgreSQL server the tests may create tables on."""
MARIADB_ENV = "EVTSRC_TEST_MARIADB_URL"
"""A SQLAlchemy URL (mysql+asyncmy://...) of a MariaDB or MySQL database."""
NEO4J_ENV = "EVTSRC_TEST_NEO4J_URI"
"""A Bolt URI of a Neo4j 5 server (no authentication)."""
NEO4J44_ENV = "EVTSRC_TEST_NEO4J44_URI"
"""A Bolt URI of a Neo4j 4.4 server (no authentication)."""
MONGO_ENV = "EVTSRC_TEST_MONGO_URI"
"""A MongoDB URI (a replica set: transactions and change streams)."""


@attrs.frozen
class BackendTarget:
    name: str
    env: str | None
    open: Callable[[str], AbstractAsyncContextManager[Backend]]
    sql: bool = False


@asynccontextmanager
async def _memory(_: str) -> AsyncIterator[Backend]:
    backend = InMemoryBackend()
    try:
        yield backend
    finally:
        await backend.close()


def _names() -> TableNames:
    return TableNames(prefix=unique_prefix())


def unique_prefix() -> str:
    """Table names no other test uses, so tests share a server without seeing each other."""
    return f"t{uuid.uuid4().hex[:10]}_"


def sqlalchemy_url(location: str) -> str:
    """``location`` with the async driver SQLAlchemy needs for it."""
    if location.startswith("postgresql://"):
        return "postgresql+asyncpg://" + location.removeprefix("postgresql://")
    return location


@asynccontextmanager
async def _provisioned(backend: Backend) -> AsyncIterator[Backend]:
    """`backend` with its schema created for one test, and dropped after it."""
    await backend.create_schema()
    try:
        yield backend
    finally:
        await backend.drop_schema()
        await backend.close()


@asynccontextmanager
async def _sqlalchemy(location: str) -> AsyncIterator[Backend]:
    from evtsrc.backends.sqlalchemy import SqlAlchemyBackend

    with tempfile.TemporaryDirectory() as folder:
        url = sqlalchemy_url(location) or f"sqlite+aiosqlite:///{Path(folder) / 'events.db'}"
        async with _provisioned(SqlAlchemyBackend(url, tables=_names())) as backend:
            yield backend


@asynccontextmanager
async def _sqlite3(_: str) -> AsyncIterator[Backend]:
    from evtsrc.backends.sqlite import SqliteBackend

    with tempfile.TemporaryDirectory() as folder:
        opened = SqliteBackend(Path(folder) / "events.db", tables=_names())
        async with _provisioned(opened) as backend:
            yield backend


@asynccontextmanager
async def _asyncpg(location: str) -> AsyncIterator[Backend]:
    from evtsrc.backends.postgres import PostgresBackend

    async with _provisioned(await PostgresBackend.connect(location, tables=_names())) as backend:
        yield backend


@asynccontextmanager
async def _mongo(location: str) -> AsyncIterator[Backend]:
    from evtsrc.backends.mongo import MongoBackend

    opened = MongoBackend.connect(location, "evtsrc_tests", collections=_names())
    async with _provisioned(opened) as backend:
        yield backend


@asynccontextmanager
async def _neo4j(location: str) -> AsyncIterator[Backend]:
    from evtsrc.backends.neo4j import Neo4jBackend

    async with _provisioned(Neo4jBackend.connect(location, labels=_names())) as backend:
        yield backend


MEMORY = BackendTarget("memory", None, _memory)
SQLALCHEMY_SQLITE = BackendTarget("sqlite", None, _sqlalchemy, sql=True)
SQLITE = BackendTarget("sqlite3", None, _sqlite3, sql=True)
SQLALCHEMY_POSTGRES = BackendTarget("sqlalchemy-postgres", POSTGRES_ENV, _sqlalchemy, sql=True)
SQLALCHEMY_MARIADB = BackendTarget("sqlalchemy-mariadb", MARIADB_ENV, _sqlalchemy, sql=True)
ASYNCPG = BackendTarget("asyncpg", POSTGRES_ENV, _asyncpg, sql=True)
MONGO = BackendTarget("mongo", MONGO_ENV, _mongo)
NEO4J = BackendTarget("neo4j", NEO4J_ENV, _neo4j)
NEO4J44 = BackendTarget("neo4j-4.4", NEO4J44_ENV, _neo4j)

TARGETS: list[BackendTarget] = [
    MEMORY,
    SQLALCHEMY_SQLITE,
    SQLITE,
    SQLALCHEMY_POSTGRES,
    SQLALCHEMY_MARIADB,
    ASYNCPG,
    MONGO,
    NEO4J,
    NEO4J44,
]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def server_location(variable: str, what: str) -> str:
    """The server `variable` names; without one the test is skipped (failed under CI)."""
    location = os.environ.get(variable, "")
    if not location:
        message = f"{what}: set {variable} to run the tests against it"
        if in_ci():
            pytest.fail(f"CI=true and {message}")
        pytest.skip(message)
    return location


@asynccontextmanager
async def opened(target: BackendTarget) -> AsyncIterator[Backend]:
    """A fresh, empty backend of `target`, skipped (failed under CI) without its server."""
    location = "" if target.env is None else server_location(target.env, target.name)
    async with target.open(location) as backend:
        yield backend


@pytest.fixture
async def backend(target: BackendTarget) -> AsyncIterator[Backend]:
    """A fresh backend of the `target` fixture, which the test module parametrizes."""
    async with opened(target) as ready:
        yield ready
