"""Schema creation, shared schemas, and database errors that are not conflicts."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from contextlib import closing
from datetime import UTC, datetime

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from evtsrc import Domain, VersionConflict
from evtsrc.backends import Backend, NewEvent, TableNames
from evtsrc.backends.postgres import PostgresBackend
from evtsrc.backends.sqlalchemy import SqlAlchemyBackend
from evtsrc.backends.sqlite import SqliteBackend
from tests.backends import unique_prefix
from tests.conformance.model import Counter, Ledger

DATABASE_ERRORS = (sa_exc.DBAPIError, asyncpg.PostgresError, sqlite3.Error)


def _new(type_name: str = "one") -> list[NewEvent]:
    return [NewEvent(type_name, {}, datetime.now(UTC))]


def _twin(backend: Backend, prefix: str) -> Backend:
    """Another event store on the same database, under other table names."""
    if isinstance(backend, SqlAlchemyBackend):
        return SqlAlchemyBackend(backend.engine, tables=TableNames(prefix))
    if isinstance(backend, SqliteBackend):
        return SqliteBackend(backend.path, tables=TableNames(prefix))
    assert isinstance(backend, PostgresBackend)
    return PostgresBackend(backend.pool, tables=TableNames(prefix))


async def test_creating_the_schema_twice_is_harmless(sql_backend: Backend) -> None:
    await sql_backend.append("s", "a", 0, _new())
    await sql_backend.create_schema()
    assert [r.type for r in await sql_backend.read_aggregate("s", "a")] == ["one"]


async def test_the_schema_sql_names_everything_after_its_tables(sql_backend: Backend) -> None:
    prefix = sql_backend.names.prefix  # type: ignore[attr-defined]
    ddl: str = sql_backend.schema_sql()  # type: ignore[attr-defined]
    for name in ("events", "snapshots", "bookmarks", "events_version_uq", "events_stream_ix"):
        assert f"{prefix}{name}" in ddl
    assert "UNIQUE (stream, aggregate_id, version)" in ddl


def test_the_schema_prints_from_the_command_line() -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "evtsrc.backends.sql_schema", "postgresql", "shop_"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "CREATE TABLE shop_events" in printed and "data JSONB NOT NULL" in printed
    assert "CONSTRAINT shop_events_version_uq UNIQUE" in printed


async def test_two_event_stores_share_one_schema(sql_backend: Backend) -> None:
    twin = _twin(sql_backend, unique_prefix())
    await twin.create_schema()
    try:
        await sql_backend.append("s", "a", 0, _new("mine"))
        await twin.append("s", "a", 0, _new("theirs"))
        await twin.set_bookmark("h", 42)
        assert [r.type for r in await sql_backend.read_aggregate("s", "a")] == ["mine"]
        assert [r.type for r in await twin.read_streams(["s"])] == ["theirs"]
        assert await sql_backend.get_bookmark("h") == 0
    finally:
        await twin.drop_schema()
        await twin.close()


async def test_a_database_error_is_never_disguised_as_a_conflict(sql_backend: Backend) -> None:
    await sql_backend.drop_schema()
    try:
        with pytest.raises(DATABASE_ERRORS) as raised:
            await sql_backend.append("s", "a", 0, _new())
        assert not isinstance(raised.value, VersionConflict)
        assert "events" in str(raised.value)
    finally:
        await sql_backend.create_schema()


async def test_another_unique_violation_is_not_a_conflict(sql_backend: Backend) -> None:
    """A clash on a constraint other than the version one stays a database error."""
    names = sql_backend.names  # type: ignore[attr-defined]
    index = f"{names.prefix}types_uq"
    statement = f"CREATE UNIQUE INDEX {index} ON {names.events} (type)"
    if isinstance(sql_backend, SqlAlchemyBackend):
        async with sql_backend.engine.begin() as connection:
            await connection.execute(sa.text(statement))
    elif isinstance(sql_backend, SqliteBackend):
        with closing(sqlite3.connect(sql_backend.path, isolation_level=None)) as connection:
            connection.execute(statement)
    else:
        assert isinstance(sql_backend, PostgresBackend)
        await sql_backend.pool.execute(statement)
    await sql_backend.append("s", "a", 0, _new("unique"))
    with pytest.raises(DATABASE_ERRORS) as raised:
        await sql_backend.append("s", "b", 0, _new("unique"))
    assert not isinstance(raised.value, VersionConflict)
    assert await sql_backend.read_aggregate("s", "b") == []


async def test_the_sqlalchemy_and_asyncpg_backends_read_each_other(sql_backend: Backend) -> None:
    if isinstance(sql_backend, SqlAlchemyBackend) and sql_backend.dialect == "postgresql":
        url = sql_backend.engine.url.set(drivername="postgresql")
        other: Backend = await PostgresBackend.connect(
            url.render_as_string(hide_password=False), tables=sql_backend.names
        )
    elif isinstance(sql_backend, PostgresBackend):
        assert sql_backend._dsn is not None
        other = SqlAlchemyBackend(
            "postgresql+asyncpg://" + sql_backend._dsn.removeprefix("postgresql://"),
            tables=sql_backend.names,
        )
    else:
        return  # only PostgreSQL has two backends
    try:
        writer = Domain(sql_backend, aggregates=[Counter, Ledger]).repository(Counter)
        reader = Domain(other, aggregates=[Counter, Ledger]).repository(Counter)
        await writer.execute("x", Counter.do_multi)
        after = await reader.execute("x", Counter.do_one)
        assert (after.version, after.multi, after.one) == (3, 2, 1)
        assert (await writer.load("x")) == after
    finally:
        await other.close()
