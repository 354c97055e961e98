"""PostgreSQL pushes: a tailing handler wakes on NOTIFY, and survives losing its connection."""

from __future__ import annotations

import asyncio
import statistics

import pytest
import sqlalchemy as sa

from evtsrc import Domain
from evtsrc.backends import Backend
from evtsrc.backends.postgres import PostgresBackend
from evtsrc.backends.sqlalchemy import SqlAlchemyBackend
from tests.backends import POSTGRES_ENV, BackendTarget
from tests.conformance.model import Counter, Ledger, Seen

from .conftest import SQL_TARGETS

POLL = 30.0  # far longer than any test waits: a delivery in time proves a push


@pytest.fixture(params=[t for t in SQL_TARGETS if t.env == POSTGRES_ENV], ids=lambda t: t.name)
def target(request: pytest.FixtureRequest) -> BackendTarget:
    """Only PostgreSQL pushes; the other SQL databases poll."""
    chosen: BackendTarget = request.param
    return chosen


@pytest.fixture
def pg_backend(sql_backend: Backend) -> Backend:
    return sql_backend


async def _delivered(runner_log: list[object], count: int, seconds: float = 5) -> float:
    loop = asyncio.get_running_loop()
    started = loop.time()
    while len(runner_log) < count:
        assert loop.time() - started < seconds, "no push arrived: the handler waited to poll"
        await asyncio.sleep(0.001)
    return loop.time() - started


async def _listener_pids(backend: Backend) -> list[int]:
    query = "SELECT pid FROM pg_stat_activity WHERE query LIKE 'LISTEN%'"
    if isinstance(backend, PostgresBackend):
        return [row[0] for row in await backend.pool.fetch(query)]
    assert isinstance(backend, SqlAlchemyBackend)
    async with backend.engine.connect() as connection:
        return [row[0] for row in await connection.execute(sa.text(query))]


async def test_a_tailing_handler_wakes_on_commit(pg_backend: Backend) -> None:
    domain = Domain(pg_backend, aggregates=[Counter, Ledger])
    runner = domain.handler(Seen(), poll_interval=POLL)
    await runner.start()
    waits = []
    try:
        for n in range(1, 21):
            await domain.repository(Counter).execute(f"p{n}", Counter.do_one)
            waits.append(await _delivered(runner.handler.log, n))
    finally:
        await runner.stop()
    print(
        f"append-to-delivery median {statistics.median(waits) * 1000:.1f} ms, "
        f"max {max(waits) * 1000:.1f} ms over {len(waits)} events"
    )


async def test_a_lost_listen_connection_is_replaced(pg_backend: Backend) -> None:
    domain = Domain(pg_backend, aggregates=[Counter, Ledger])
    runner = domain.handler(Seen(), poll_interval=POLL)
    await runner.start()
    try:
        await domain.repository(Counter).execute("before", Counter.do_one)
        await _delivered(runner.handler.log, 1)
        [pid] = await _listener_pids(pg_backend)
        if isinstance(pg_backend, PostgresBackend):
            await pg_backend.pool.execute("SELECT pg_terminate_backend($1)", pid)
        else:
            assert isinstance(pg_backend, SqlAlchemyBackend)
            async with pg_backend.engine.begin() as connection:
                await connection.execute(sa.text(f"SELECT pg_terminate_backend({pid})"))
        await domain.repository(Counter).execute("while-down", Counter.do_one)
        await _delivered(runner.handler.log, 2)
        for _ in range(100):
            pids = await _listener_pids(pg_backend)
            if pids and pids != [pid]:
                break
            await asyncio.sleep(0.05)
        assert pids and pid not in pids
        await domain.repository(Counter).execute("after", Counter.do_one)
        await _delivered(runner.handler.log, 3)
        assert [row[1] for row in runner.handler.log] == ["before", "while-down", "after"]
    finally:
        await runner.stop()
