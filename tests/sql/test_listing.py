"""The SQL backends list from their indexes, and in code point order on any collation.

A page of aggregate ids and the list of streams read a page's worth of index entries,
not the stream's events (the plans are checked on a store of 2000 aggregates of 10
events each). On PostgreSQL, whose collation may sort by a language's rules, ids still
come in code point order.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from evtsrc.backends import Backend, NewEvent
from evtsrc.backends.postgres import PostgresBackend
from evtsrc.backends.sql._listing import (
    ListingStatements,
    Statement,
)
from evtsrc.backends.sqlalchemy import SqlAlchemyBackend
from evtsrc.backends.sqlite import SqliteBackend

AGGREGATES = 2000
PER_AGGREGATE = 10
LIMIT = 10


def _dialect(backend: Backend) -> str:
    if isinstance(backend, PostgresBackend):
        return "postgresql"
    if isinstance(backend, SqliteBackend):
        return "sqlite"
    assert isinstance(backend, SqlAlchemyBackend)
    return "mariadb" if backend.dialect == "mysql" else backend.dialect


def _events(backend: Backend) -> str:
    assert isinstance(backend, PostgresBackend | SqliteBackend | SqlAlchemyBackend)
    return backend.names.events


def _listing(backend: Backend) -> ListingStatements:
    """The listing statements the backend runs."""
    if isinstance(backend, PostgresBackend):
        return backend._listing
    if isinstance(backend, SqliteBackend):
        return backend._sql.listing
    assert isinstance(backend, SqlAlchemyBackend)
    return backend._dialect.listing()


async def _execute(backend: Backend, statement: str, *arguments: Any) -> list[Any]:
    """The rows of one statement, sent past the backend."""
    if isinstance(backend, PostgresBackend):
        return list(await backend.pool.fetch(statement, *arguments))
    if isinstance(backend, SqliteBackend):

        def run() -> list[Any]:
            return backend._reading().execute(statement, arguments).fetchall()

        return await backend._reader.run(run)
    assert isinstance(backend, SqlAlchemyBackend)
    async with backend.engine.begin() as connection:
        result = await connection.exec_driver_sql(statement, arguments)
        return list(result.all()) if result.returns_rows else []


async def _fill(backend: Backend) -> None:
    """2000 aggregates of 10 events each, every other one in stream s1."""
    now = datetime.now(UTC)
    for n in range(AGGREGATES):
        events = [NewEvent("x", {}, now) for _ in range(PER_AGGREGATE)]
        await backend.append(f"s{n % 2}", f"id-{100000 + n}", 0, events)


async def _rows_read(
    backend: Backend, statement: Statement, *, first: bool = False, **values: object
) -> int:
    """How many rows of the events table the statement read, as the database counts them.

    PostgreSQL and MariaDB run it (EXPLAIN ANALYZE, ANALYZE). SQLite counts nothing: its
    plan must read the events table through an index with a bound (`SEARCH`), except for
    the `first` row of all; 0 then.
    """
    table = _events(backend)
    arguments = statement.arguments(**values)
    dialect = _dialect(backend)
    if dialect == "sqlite":
        explained = await _execute(backend, f"EXPLAIN QUERY PLAN {statement.text}", *arguments)
        plan = [str(row[-1]) for row in explained]
        reads = [
            step
            for step in plan
            if step.startswith(("SEARCH", "SCAN")) and "listed" not in step and "ROW" not in step
        ]
        assert reads and all("USING COVERING INDEX" in step for step in reads), plan
        scans = [step for step in reads if step.startswith("SCAN")]
        assert scans == (reads[:1] if first else []), plan
        return 0
    if dialect == "postgresql":
        (row,) = await _execute(
            backend, f"EXPLAIN (ANALYZE, FORMAT JSON) {statement.text}", *arguments
        )
        plan = row[0]
        return _pg_rows((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"], table)
    (row,) = await _execute(backend, f"ANALYZE FORMAT=JSON {statement.text}", *arguments)
    return _mariadb_rows(json.loads(row[0]), table)


def _pg_rows(plan: dict[str, Any], table: str) -> int:
    own = plan["Actual Rows"] * plan["Actual Loops"] if plan.get("Relation Name") == table else 0
    return int(own) + sum(_pg_rows(child, table) for child in plan.get("Plans", []))


def _mariadb_rows(node: Any, table: str) -> int:
    if isinstance(node, list):
        return sum(_mariadb_rows(child, table) for child in node)
    if not isinstance(node, dict):
        return 0
    own = 0
    if node.get("table_name") == table and "r_rows" in node:
        own = round(node["r_loops"] * (node["r_rows"] or 0))
    return own + sum(_mariadb_rows(child, table) for child in node.values())


@pytest.mark.parametrize("after", ["", "id-100999", "id-101990"])
async def test_a_page_of_aggregates_reads_a_page_of_index_entries(
    sql_backend: Backend, after: str
) -> None:
    await _fill(sql_backend)
    statement = _listing(sql_backend).aggregates
    read = await _rows_read(sql_backend, statement, stream="s1", after=after, limit=LIMIT)
    ids = [f"id-{100000 + n}" for n in range(1, AGGREGATES, 2)]
    assert (
        await sql_backend.aggregate_ids("s1", after=after, limit=LIMIT)
        == ([i for i in ids if i > after][:LIMIT])
    )
    # A lookup per id where the database looks a bound up (SQLite, PostgreSQL), else the
    # entries of the page's aggregates (MariaDB): never the rest of the stream.
    most = LIMIT + 1 if _dialect(sql_backend) == "postgresql" else (LIMIT + 1) * PER_AGGREGATE
    assert read <= most, (after, read)


async def test_the_streams_cost_a_lookup_each(sql_backend: Backend) -> None:
    await _fill(sql_backend)
    listing = _listing(sql_backend)
    most = listing.most_streams  # one statement for each stream on MariaDB
    assert await _rows_read(sql_backend, listing.first_streams, first=True, limit=most) <= 3
    assert await _rows_read(sql_backend, listing.streams, after="s0", limit=most) <= 2
    assert await sql_backend.streams() == ["s0", "s1"]
