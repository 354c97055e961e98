"""A page of a stream costs PostgreSQL a page of rows, even before it has table statistics.

A store's events table is often read before autovacuum first analyses it: just
created, bulk-loaded, or a stream name new to its statistics. Planned with no
statistics, a read that names the stream as a constant estimated a handful of rows
and scanned the whole stream to sort it, on every page: a catch-up quadratic in
the stream's length.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from evtsrc.backends import Backend, Bucket, NewEvent
from evtsrc.backends.postgres import PostgresBackend
from evtsrc.backends.sqlalchemy import SqlAlchemyBackend
from tests.backends import BackendTarget

from .conftest import SQL_TARGETS


@pytest.fixture(
    params=[t for t in SQL_TARGETS if t.name in ("asyncpg", "sqlalchemy-postgres")],
    ids=lambda t: t.name,
)
def target(request: pytest.FixtureRequest) -> BackendTarget:
    chosen: BackendTarget = request.param
    return chosen


async def _explain(
    backend: Backend,
    streams: list[str],
    after: int,
    limit: int,
    metadata: bool,
    bucket: Bucket | None = None,
) -> dict[str, Any]:
    """The EXPLAIN ANALYZE plan of the statement `read_streams` sends for this page."""
    if isinstance(backend, PostgresBackend):
        if bucket is None:
            read = backend._sql_read_streams if metadata else backend._sql_read_streams_bare
            arguments: tuple[object, ...] = (streams, after, limit)
        else:
            read = backend._sql_read_bucket if metadata else backend._sql_read_bucket_bare
            arguments = (streams, after, limit, bucket.count, bucket.index)
        statement = f"EXPLAIN (ANALYZE, FORMAT JSON) {read}"
        return _plan(await backend.pool.fetchval(statement, *arguments))
    assert isinstance(backend, SqlAlchemyBackend)
    query = backend._dialect.stream_page(
        backend._events(metadata), backend.tables.events, streams, after, limit, bucket
    )
    compiled = query.compile(dialect=backend.engine.dialect)
    arguments = tuple(compiled.params[name] for name in compiled.positiontup or ())
    async with backend.engine.connect() as connection:
        result = await connection.exec_driver_sql(
            f"EXPLAIN (ANALYZE, FORMAT JSON) {compiled.string}", arguments
        )
        return _plan(result.scalar_one())


def _plan(explained: object) -> dict[str, Any]:
    """The top node of EXPLAIN's JSON, as text (asyncpg) or parsed (SQLAlchemy)."""
    parsed: Any = json.loads(explained) if isinstance(explained, str) else explained
    plan: dict[str, Any] = parsed[0]["Plan"]
    return plan


def _rows_scanned(plan: dict[str, Any], table: str) -> int:
    """The rows the scans of `table` in an EXPLAIN ANALYZE plan returned, in all."""
    own = plan["Actual Rows"] * plan["Actual Loops"] if plan.get("Relation Name") == table else 0
    return int(own) + sum(_rows_scanned(child, table) for child in plan.get("Plans", []))


ROWS = 20_000
NOTE = "x" * 200
"""Enough rows and pages that an unanalysed estimate favours a bitmap scan and a sort."""


@pytest.mark.parametrize("streams", [["s"], ["s", "t"]], ids=["one stream", "two streams"])
async def test_a_page_scans_a_page_of_rows_on_a_table_never_analysed(
    sql_backend: Backend, streams: list[str]
) -> None:
    assert isinstance(sql_backend, PostgresBackend | SqlAlchemyBackend)
    table = sql_backend.names.events
    await _execute(sql_backend, f'ALTER TABLE "{table}" SET (autovacuum_enabled = false)')
    now = datetime.now(UTC)
    for stream in streams:
        for n in range(ROWS // 1000):
            events = [NewEvent("one", {"n": i, "note": NOTE}, now) for i in range(1000)]
            await sql_backend.append(stream, f"a{n}", 0, events)
    middle = (await sql_backend.read_streams(streams[:1], limit=ROWS // 2))[-1].position
    limit = 100
    for after, metadata in itertools.product((0, middle), (True, False)):
        plan = await _explain(sql_backend, streams, after, limit, metadata)
        scanned = _rows_scanned(plan, table)
        assert scanned <= limit * len(streams), (
            f"a page of {limit} after {after} scanned {scanned} rows of {streams}"
            f"{'' if metadata else ' without metadata'}"
        )


async def _execute(backend: Backend, statement: str) -> None:
    if isinstance(backend, PostgresBackend):
        await backend.pool.execute(statement)
        return
    assert isinstance(backend, SqlAlchemyBackend)
    async with backend.engine.begin() as connection:
        await connection.exec_driver_sql(statement)


def _index_scans(plan: dict[str, Any], table: str) -> list[str | None]:
    """The index each scan of `table` in a plan reads (None for a scan of the table)."""
    own = [plan.get("Index Name")] if plan.get("Relation Name") == table else []
    return own + [name for child in plan.get("Plans", []) for name in _index_scans(child, table)]


@pytest.mark.parametrize("streams", [["s"], ["s", "t"]], ids=["one stream", "two streams"])
async def test_a_bucket_page_reads_the_stream_index_and_filters_there(
    sql_backend: Backend, streams: list[str]
) -> None:
    """The bucket is filtered as the (stream, position) index is read: no other path."""
    assert isinstance(sql_backend, PostgresBackend | SqlAlchemyBackend)
    table = sql_backend.names.events
    await _execute(sql_backend, f'ALTER TABLE "{table}" SET (autovacuum_enabled = false)')
    now = datetime.now(UTC)
    for stream in streams:
        for n in range(ROWS // 1000):
            events = [NewEvent("one", {"n": i, "note": NOTE}, now) for i in range(1000)]
            await sql_backend.append(stream, f"a{n}", 0, events)
    middle = (await sql_backend.read_streams(streams[:1], limit=ROWS // 2))[-1].position
    limit = 100
    for after, metadata in itertools.product((0, middle), (True, False)):
        plan = await _explain(sql_backend, streams, after, limit, metadata, Bucket(1, 3))
        assert set(_index_scans(plan, table)) == {sql_backend.names.stream_index}
        assert _rows_scanned(plan, table) <= limit * len(streams)
