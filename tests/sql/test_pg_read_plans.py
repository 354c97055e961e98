"""A page of a stream costs PostgreSQL a page of rows, even before it has table statistics.

A store's events table is often read before autovacuum first analyses it: just
created, bulk-loaded, or a stream name new to its statistics. Planned with no
statistics, a read that names the stream as a constant estimated a handful of rows
and scanned the whole stream to sort it, on every page: a catch-up quadratic in
the stream's length.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from evtsrc.backends import Backend, NewEvent
from evtsrc.backends.postgres import PostgresBackend
from tests.backends import BackendTarget

from .conftest import SQL_TARGETS


@pytest.fixture(params=[t for t in SQL_TARGETS if t.name == "asyncpg"], ids=lambda t: t.name)
def target(request: pytest.FixtureRequest) -> BackendTarget:
    chosen: BackendTarget = request.param
    return chosen


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
    pg = sql_backend
    assert isinstance(pg, PostgresBackend)
    table = pg.names.events
    await pg.pool.execute(f'ALTER TABLE "{table}" SET (autovacuum_enabled = false)')
    now = datetime.now(UTC)
    for stream in streams:
        for n in range(ROWS // 1000):
            events = [NewEvent("one", {"n": i, "note": NOTE}, now) for i in range(1000)]
            await pg.append(stream, f"a{n}", 0, events)
    middle = (await pg.read_streams(streams[:1], limit=ROWS // 2))[-1].position
    limit = 100
    async with pg.pool.acquire() as connection:
        for after in (0, middle):
            explained = await connection.fetchval(
                f"EXPLAIN (ANALYZE, FORMAT JSON) {pg._sql_read_streams}", streams, after, limit
            )
            plan = json.loads(explained)[0]["Plan"]
            scanned = _rows_scanned(plan, table)
            assert scanned <= limit * len(streams), (
                f"a page of {limit} after {after} scanned {scanned} rows of {streams}"
            )
