"""One description of the tables: the DDL text and SQLAlchemy agree, and old stores keep working.

`old_ddl/` holds the DDL the SQL backends ran before the schema had one source
(for the prefix `evtsrc_`): SqliteBackend's hand-copied text, PostgresBackend's own
text and SQLAlchemy's output for SQLite, PostgreSQL and MariaDB. It made the tables
before event ids and metadata: on real databases, the schema the old text creates,
once `create_schema()` added those columns, must be exactly the one the new code
creates, and a store made by the old text must be read and appended to by the new
code. (tests/sql/test_upgrade.py reads the events such a store holds.)
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.dialects.mysql.base import MySQLDialect
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.dialects.sqlite.base import SQLiteDialect
from sqlalchemy.engine import Dialect as SaDialect
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from evtsrc import BookmarkMoved, VersionConflict
from evtsrc.backends import Backend, NewEvent, SnapshotRecord, TableNames
from evtsrc.backends.postgres import PostgresBackend
from evtsrc.backends.sql._ddl import DIALECTS, Dialect, create_statements, schema_sql
from evtsrc.backends.sql_schema import Tables
from evtsrc.backends.sqlalchemy import SqlAlchemyBackend
from evtsrc.backends.sqlite import SqliteBackend
from tests.backends import MARIADB_ENV, POSTGRES_ENV, in_ci, sqlalchemy_url, unique_prefix

OLD = Path(__file__).parent / "old_ddl"

PREFIXES = ["evtsrc_", "", "Shop_", "my-app.", '9"odd ', "ünï_", "a`b_", "select_", "$x_", "_"]

SA_DIALECTS: dict[Dialect, SaDialect] = {
    "postgresql": PGDialect(),  # type: ignore[no-untyped-call]
    "mariadb": MySQLDialect(is_mariadb=True),
    "mysql": MySQLDialect(),
    "sqlite": SQLiteDialect(),
}


def _old(name: str, prefix: str) -> list[str]:
    """The statements of the old DDL `name`, for the event store under `prefix`."""
    text = (OLD / f"{name}.sql").read_text().replace("evtsrc_", prefix)
    return [s.strip() for s in text.split(";\n") if s.strip()]


def _server(env: str) -> str:
    location = os.environ.get(env, "")
    if not location:
        if in_ci():
            pytest.fail(f"CI=true and {env} is not set")
        pytest.skip(f"set {env} to compare schemas on this database")
    return location


def _new(type_name: str = "one") -> list[NewEvent]:
    return [NewEvent(type_name, {"n": 1}, datetime.now(UTC))]


# -- one description, two renderings ---------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("prefix", PREFIXES)
def test_the_ddl_text_is_what_sqlalchemy_compiles(prefix: str, dialect: Dialect) -> None:
    names = TableNames(prefix)
    tables = Tables(names, "mysql" if dialect == "mariadb" else dialect, mariadb=dialect != "mysql")
    assert schema_sql(names, dialect) == tables.ddl(SA_DIALECTS[dialect])


ADDED = ("\tevent_id ", "\tevent_version ", "\tmetadata ", "\tbucket_key ")
"""How the lines of the columns added since the old DDL start."""
ADDED_TABLE = "CREATE TABLE {exists}{table} ("
"""How the statements of the tables added since then (parked, members, processed) start."""


def _without_added(ddl: str) -> str:
    """`ddl` without the added columns and without the added tables' statements."""
    statements = [
        statement
        for statement in ddl.split(";\n\n")
        if not any(
            statement.startswith(ADDED_TABLE.format(exists=exists, table=table))
            for exists in ("", "IF NOT EXISTS ")
            for name in ("parked", "members", "processed")
            for table in (f"evtsrc_{name}", f'"evtsrc_{name}"')
        )
    ]
    kept = ";\n\n".join(statements)
    return "".join(line for line in kept.splitlines(True) if not line.startswith(ADDED))


def test_the_default_ddl_is_what_the_backends_ran_before_and_the_added_columns() -> None:
    for dialect in ("sqlite", "postgresql", "mariadb"):
        new = schema_sql(TableNames(), dialect)
        assert _without_added(new) == (OLD / f"sqlalchemy_{dialect}.sql").read_text()
        assert sum(line.startswith(ADDED) for line in new.splitlines()) == 4
        assert "CREATE TABLE evtsrc_parked (" in new or 'CREATE TABLE "evtsrc_parked" (' in new
        assert "CREATE TABLE evtsrc_members (" in new or 'CREATE TABLE "evtsrc_members" (' in new
        assert (
            "CREATE TABLE evtsrc_processed (" in new or 'CREATE TABLE "evtsrc_processed" (' in new
        )
    old_sqlite = ";\n\n".join(_old("sqlite_backend", "evtsrc_")) + ";"
    new_sqlite = ";\n\n".join(create_statements(TableNames(), "sqlite", if_not_exists=True))
    assert _without_added(new_sqlite + ";") == old_sqlite


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_command_line_needs_no_driver(dialect: str) -> None:
    """`python -m evtsrc.backends.sql_schema` with none of the extras importable."""
    blocked = ("sqlalchemy", "aiosqlite", "asyncpg", "asyncmy", "pymongo", "neo4j")
    script = (
        "import runpy, sys\n"
        f"for name in {blocked!r}: sys.modules[name] = None\n"
        f"sys.argv = ['sql_schema', {dialect!r}, 'shop_']\n"
        "runpy.run_module('evtsrc.backends.sql_schema', run_name='__main__', alter_sys=True)\n"
    )
    printed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert printed == schema_sql(TableNames("shop_"), dialect)  # type: ignore[arg-type]


def test_sqlite_backend_works_without_sqlalchemy(tmp_path: Path) -> None:
    script = (
        "import asyncio, sys\n"
        "for name in ('sqlalchemy', 'aiosqlite'): sys.modules[name] = None\n"
        "from datetime import UTC, datetime\n"
        "from evtsrc.backends import NewEvent, SqliteBackend\n"
        "from evtsrc.backends.sql_schema import TableNames\n"
        "async def main():\n"
        f"    backend = SqliteBackend({str(tmp_path / 'e.sqlite')!r}, tables=TableNames('x_'))\n"
        "    await backend.create_schema()\n"
        "    await backend.append('s', 'a', 0, [NewEvent('t', {}, datetime.now(UTC))])\n"
        "    print(len(await backend.read_streams(['s'])))\n"
        "    await backend.close()\n"
        "    try:\n"
        "        from evtsrc.backends.sql_schema import Tables\n"
        "    except ImportError as error:\n"
        "        print(error)\n"
        "asyncio.run(main())\n"
    )
    printed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert printed.splitlines() == [
        "1",
        "evtsrc.backends.sql_schema.Tables needs SQLAlchemy: pip install 'evtsrc[sqlalchemy]'",
    ]


# -- old and new DDL on real databases -------------------------------------------------------


def _sqlite_schema(path: Path) -> list[tuple[Any, ...]]:
    """Each table's columns and indexes, and each index's SQL, as SQLite describes them.

    Not the tables' SQL text: ALTER TABLE writes an added column into it in its own way.
    """
    found: list[tuple[Any, ...]] = []
    with closing(sqlite3.connect(path, isolation_level=None)) as connection:
        for kind, name, sql in connection.execute("SELECT type, name, sql FROM sqlite_master"):
            if kind == "index":
                found.append(
                    (kind, name, sql, list(connection.execute(f"PRAGMA index_info('{name}')")))
                )
            else:
                found.append(
                    (
                        kind,
                        name,
                        list(connection.execute(f"PRAGMA table_info('{name}')")),
                        list(connection.execute(f"PRAGMA index_list('{name}')")),
                    )
                )
    return sorted(found, key=repr)


async def test_sqlite_old_ddl_upgraded_and_new_ddl_create_the_same_schema(tmp_path: Path) -> None:
    for name in ("sqlite_backend", "sqlalchemy_sqlite"):
        with closing(sqlite3.connect(tmp_path / f"{name}.sqlite", isolation_level=None)) as db:
            for statement in _old(name, "evtsrc_"):
                db.execute(statement)
    stores = {
        "sqlite_backend": SqliteBackend(tmp_path / "sqlite_backend.sqlite"),  # upgraded
        "sqlalchemy_sqlite": SqlAlchemyBackend(
            f"sqlite+aiosqlite:///{tmp_path / 'sqlalchemy_sqlite.sqlite'}"  # upgraded
        ),
        "stdlib": SqliteBackend(tmp_path / "stdlib.sqlite"),
        "alchemy": SqlAlchemyBackend(f"sqlite+aiosqlite:///{tmp_path / 'alchemy.sqlite'}"),
    }
    for backend in stores.values():
        await backend.create_schema()
        await backend.close()
    schemas = [_sqlite_schema(tmp_path / f"{name}.sqlite") for name in stores]
    assert schemas[0] == schemas[1] == schemas[2] == schemas[3]
    events = next(row for row in schemas[0] if row[1] == "evtsrc_events")
    assert [column[1:5] for column in events[2][-4:]] == [
        ("event_id", "VARCHAR(36)", 0, None),
        ("event_version", "INTEGER", 1, "1"),
        ("metadata", "TEXT", 0, None),
        ("bucket_key", "INTEGER", 0, None),
    ]
    assert {row[1] for row in schemas[0]} >= {"evtsrc_events", "evtsrc_events_stream_ix"}


_PG_CATALOG = (
    # columns: name, position, type, NOT NULL, default
    "SELECT c.relname, a.attname, a.attnum::int, format_type(a.atttypid, a.atttypmod), "
    "a.attnotnull, pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a "
    "JOIN pg_class c ON c.oid = a.attrelid "
    "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
    "WHERE c.relname = ANY($1::text[]) AND a.attnum > 0 AND NOT a.attisdropped",
    # constraints: name, kind, definition
    "SELECT conrelid::regclass::text, conname, contype::text, pg_get_constraintdef(oid) "
    "FROM pg_constraint WHERE conrelid::regclass::text = ANY($1::text[])",
    # indexes, constraints' own included
    "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE tablename = ANY($1::text[])",
    # tables: kind, persistence
    "SELECT relname, relkind::text, relpersistence::text FROM pg_class "
    "WHERE relname = ANY($1::text[])",
)


async def _pg_schema(connection: asyncpg.Connection, prefix: str) -> list[tuple[Any, ...]]:
    names = TableNames(prefix)
    tables = [names.events, names.snapshots, names.bookmarks]
    relations = [
        *tables,
        names.stream_index,
        names.version_constraint,
        *(f"{t}_pkey" for t in tables),
    ]
    rows: list[tuple[Any, ...]] = []
    for query in _PG_CATALOG:
        for row in await connection.fetch(query, relations):
            rows.append(tuple(v.replace(prefix, "<p>") if isinstance(v, str) else v for v in row))
    return sorted(rows, key=repr)


async def test_postgresql_old_ddl_upgraded_and_new_ddl_create_the_same_schema() -> None:
    dsn = _server(POSTGRES_ENV)
    prefixes = {kind: unique_prefix() for kind in ("native", "alchemy", "new_text", "new_alchemy")}
    connection = await asyncpg.connect(dsn)
    backends: list[Backend] = [
        await PostgresBackend.connect(dsn, tables=TableNames(prefixes["native"])),
        SqlAlchemyBackend(sqlalchemy_url(dsn), tables=TableNames(prefixes["alchemy"])),
        SqlAlchemyBackend(sqlalchemy_url(dsn), tables=TableNames(prefixes["new_alchemy"])),
    ]
    try:
        await connection.execute(";\n".join(_old("postgres_backend", prefixes["native"])))
        await connection.execute(";\n".join(_old("sqlalchemy_postgresql", prefixes["alchemy"])))
        await connection.execute(
            schema_sql(TableNames(prefixes["new_text"]), "postgresql", if_not_exists=True)
        )
        for backend in backends:  # the first two add the columns the old text did not make
            await backend.create_schema()
        schemas = [await _pg_schema(connection, prefix) for prefix in prefixes.values()]
        assert schemas[0] == schemas[1] == schemas[2] == schemas[3]
        assert len(schemas[0]) > 20
        assert ("<p>events", "event_id", 8, "uuid", False, None) in schemas[0]
        assert ("<p>events", "event_version", 9, "integer", True, "1") in schemas[0]
        assert ("<p>events", "metadata", 10, "text", False, None) in schemas[0]
        assert ("<p>events", "bucket_key", 11, "integer", False, None) in schemas[0]
    finally:
        for prefix in prefixes.values():
            names = TableNames(prefix)
            await connection.execute(
                f'DROP TABLE IF EXISTS "{names.events}", "{names.snapshots}", "{names.bookmarks}"'
            )
        await connection.close()
        for backend in backends:
            await backend.close()


async def _show_create(engine: AsyncEngine, prefix: str) -> list[str]:
    names = TableNames(prefix)
    found = []
    async with engine.connect() as connection:
        for table in (names.events, names.snapshots, names.bookmarks):
            row = (await connection.exec_driver_sql(f"SHOW CREATE TABLE `{table}`")).one()
            found.append(row[1].replace(prefix, "<p>"))
    return found


async def test_mariadb_old_ddl_upgraded_and_new_ddl_create_the_same_schema() -> None:
    url = _server(MARIADB_ENV)
    prefixes = {kind: unique_prefix() for kind in ("alchemy", "new_text", "new_alchemy")}
    engine = create_async_engine(url)
    upgraded = SqlAlchemyBackend(engine, tables=TableNames(prefixes["alchemy"]))
    alchemy = SqlAlchemyBackend(engine, tables=TableNames(prefixes["new_alchemy"]))
    try:
        async with engine.begin() as connection:
            for statement in _old("sqlalchemy_mariadb", prefixes["alchemy"]):
                await connection.exec_driver_sql(statement)
            for statement in create_statements(TableNames(prefixes["new_text"]), "mariadb"):
                await connection.exec_driver_sql(statement)
        await upgraded.create_schema()
        await alchemy.create_schema()
        schemas = [await _show_create(engine, prefix) for prefix in prefixes.values()]
        assert schemas[0] == schemas[1] == schemas[2]
        assert "utf8mb4_nopad_bin" in schemas[0][0]
        assert "`event_version` int(11) NOT NULL DEFAULT 1" in schemas[0][0]
        assert "`bucket_key` int(11) DEFAULT NULL" in schemas[0][0]
    finally:
        async with engine.begin() as connection:
            for prefix in prefixes.values():
                names = TableNames(prefix)
                for table in (names.events, names.snapshots, names.bookmarks):
                    await connection.exec_driver_sql(f"DROP TABLE IF EXISTS `{table}`")
        await engine.dispose()


# -- a store made by the old DDL, used by the new code ---------------------------------------


async def _works_on(backend: Backend) -> None:
    await backend.create_schema()  # finds everything there
    [first] = await backend.append("s", "a", 0, _new())
    [second] = await backend.append("s", "a", 1, _new("two"))
    with pytest.raises(VersionConflict):
        await backend.append("s", "a", 1, _new())
    read = await backend.read_aggregate("s", "a")
    assert [(r.type, r.event_id) for r in read] == [
        ("one", first.event_id),
        ("two", second.event_id),
    ]
    assert [r.position for r in await backend.read_streams(["s"])] == [
        first.position,
        second.position,
    ]
    await backend.put_snapshot(SnapshotRecord("s", "a", 2, "k", {"n": 2}))
    assert await backend.get_snapshot("s", "a") == SnapshotRecord("s", "a", 2, "k", {"n": 2})
    await backend.set_bookmark("h", first.position)
    async with backend.batch_transaction() as transaction:  # type: ignore[attr-defined]
        await transaction.commit_bookmark("h", first.position, second.position)
    with pytest.raises(BookmarkMoved):
        async with backend.batch_transaction() as transaction:  # type: ignore[attr-defined]
            await transaction.commit_bookmark("h", first.position, second.position)
    assert await backend.get_bookmark("h") == second.position


@pytest.mark.parametrize("old", ["sqlite_backend", "sqlalchemy_sqlite"])
@pytest.mark.parametrize(
    "new",
    [
        lambda path, names: SqliteBackend(path, tables=names),
        lambda path, names: SqlAlchemyBackend(f"sqlite+aiosqlite:///{path}", tables=names),
    ],
    ids=["sqlite3", "sqlalchemy"],
)
async def test_a_sqlite_store_made_by_the_old_ddl_works(
    tmp_path: Path, old: str, new: Callable[[Path, TableNames], Backend]
) -> None:
    path = tmp_path / "old.sqlite"
    with closing(sqlite3.connect(path, isolation_level=None)) as connection:
        for statement in _old(old, "Old_"):
            connection.execute(statement)
    backend = new(path, TableNames("Old_"))
    try:
        await _works_on(backend)
    finally:
        await backend.close()


@pytest.fixture
async def old_server_store(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    old, env = request.param
    location = _server(env)
    prefix = unique_prefix()
    engine = create_async_engine(sqlalchemy_url(location))
    async with engine.begin() as connection:
        for statement in _old(old, prefix):
            await connection.exec_driver_sql(statement)
    backend = SqlAlchemyBackend(engine, tables=TableNames(prefix))
    try:
        yield backend
    finally:
        await backend.drop_schema()
        await engine.dispose()


@pytest.mark.parametrize(
    "old_server_store",
    [
        ("postgres_backend", POSTGRES_ENV),
        ("sqlalchemy_postgresql", POSTGRES_ENV),
        ("sqlalchemy_mariadb", MARIADB_ENV),
    ],
    indirect=True,
    ids=["postgres_backend", "sqlalchemy_postgresql", "sqlalchemy_mariadb"],
)
async def test_a_server_store_made_by_the_old_ddl_works(old_server_store: Backend) -> None:
    await _works_on(old_server_store)


def test_identifiers_are_quoted_only_when_needed() -> None:
    from evtsrc.backends.sql._identifiers import quote

    assert quote("evtsrc_events") == "evtsrc_events"
    assert quote("Shop_events") == '"Shop_events"'
    assert quote('9"odd events') == '"9""odd events"'
    assert quote("a`b", "`") == "`a``b`"
