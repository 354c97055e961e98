"""PostgresBackend keeps pool connections between its statements, and gives back what fails."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from evtsrc import Domain, StoreUnavailable, VersionConflict
from evtsrc.backends import Backend, NewEvent
from evtsrc.backends.postgres import PostgresBackend
from evtsrc.testing.commit_gates._postgres import postgres_gate
from tests.backends import BackendTarget
from tests.conformance.model import Counter, Ledger, Seen

from .conftest import SQL_TARGETS


@pytest.fixture(params=[t for t in SQL_TARGETS if t.name == "asyncpg"], ids=lambda t: t.name)
def target(request: pytest.FixtureRequest) -> BackendTarget:
    chosen: BackendTarget = request.param
    return chosen


@pytest.fixture
def pg(sql_backend: Backend) -> PostgresBackend:
    assert isinstance(sql_backend, PostgresBackend)
    return sql_backend


def _new() -> list[NewEvent]:
    return [NewEvent("one", {"n": 1}, datetime.now(UTC))]


def _checked_out(backend: PostgresBackend) -> int:
    return backend.pool.get_size() - backend.pool.get_idle_size()


async def test_sequential_statements_reuse_held_connections(pg: PostgresBackend) -> None:
    for _ in range(20):
        await pg.read_aggregate("s", "a")
    assert _checked_out(pg) == 1
    for version in range(20):  # each append's notification goes out beside the next statement
        await pg.append("s", "a", version, _new())
        await pg.read_aggregate("s", "a")
    assert _checked_out(pg) == 2
    pids = {await pg.pool.fetchval("SELECT pg_backend_pid()") for _ in range(3)}
    assert len(pids) == 1  # the pool hands out what the backend does not hold


async def test_concurrent_statements_hold_at_most_max_size_minus_one(pg: PostgresBackend) -> None:
    max_size = pg.pool.get_max_size()
    await asyncio.gather(*(pg.append("s", f"a{i}", 0, _new()) for i in range(3 * max_size)))
    assert _checked_out(pg) == max_size - 1
    assert await pg.pool.fetchval("SELECT 1") == 1  # one is left for the pool's own users


async def test_a_failed_statement_gives_its_connection_back(pg: PostgresBackend) -> None:
    await pg.append("s", "a", 0, _new())
    await pg._notifier.flush()
    held = _checked_out(pg)
    with pytest.raises(VersionConflict):
        await pg.append("s", "a", 0, _new())  # the statement ran: its check said no
    assert _checked_out(pg) == held
    with pytest.raises(asyncpg.UndefinedTableError):
        await pg._fetch("test", "SELECT * FROM no_such_table")
    assert _checked_out(pg) == held - 1
    assert [r.version for r in await pg.read_aggregate("s", "a")] == [1]


async def test_a_statement_cancelled_midway_leaves_no_busy_connection(
    pg: PostgresBackend,
) -> None:
    await pg.append("s", "a", 0, _new())
    sleeping = asyncio.ensure_future(pg._fetch("test", "SELECT pg_sleep(5)"))
    await asyncio.sleep(0.2)
    sleeping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sleeping
    for _ in range(3):  # whichever connection comes next is ready for a statement
        assert [r.version for r in await pg.read_aggregate("s", "a")] == [1]


async def test_close_gives_held_connections_back_so_the_pool_closes(
    pg: PostgresBackend,
) -> None:
    assert pg._dsn is not None
    other = await PostgresBackend.connect(pg._dsn, tables=pg.names)
    await asyncio.gather(*(other.append("s", f"a{i}", 0, _new()) for i in range(4)))
    assert _checked_out(other) > 0
    await asyncio.wait_for(other.close(), timeout=10)  # the pool waits for all checked out
    assert other.pool.is_closing()


async def test_statements_past_the_limit_wait_and_a_cancelled_waiter_loses_nothing(
    pg: PostgresBackend,
) -> None:
    limit = pg.pool.get_max_size() - 1
    gate = postgres_gate(pg)
    ids = [f"a{i}" for i in range(limit + 3)]
    for aggregate_id in ids:
        await gate.hold(aggregate_id)
    writers = [asyncio.ensure_future(pg.append("s", a, 0, _new())) for a in ids]
    for aggregate_id in ids[:limit]:  # `limit` transactions are open; three writers wait
        await gate.wait_held(aggregate_id)
    await asyncio.sleep(0.2)
    assert _checked_out(pg) == limit
    writers[-1].cancel()
    await gate.close()
    results = await asyncio.gather(*writers, return_exceptions=True)
    assert isinstance(results[-1], asyncio.CancelledError)
    assert all(isinstance(r, list) and len(r) == 1 for r in results[:-1])
    await asyncio.gather(*(pg.read_aggregate("s", f"a{i}") for i in range(3 * limit)))
    await pg._notifier.flush()
    assert _checked_out(pg) == len(pg._connections._idle) == limit  # every one is back


async def _terminate(dsn: str, application_name: str) -> int:
    """Close every session of `application_name` from the server side."""
    killer = await asyncpg.connect(dsn)
    try:
        rows = await killer.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            application_name,
        )
    finally:
        await killer.close()
    return len(rows)


async def test_connections_lost_again_and_again_are_accounted_for(
    pg: PostgresBackend, caplog: pytest.LogCaptureFixture
) -> None:
    """Each lost connection is given back: nothing waits forever and no call sees a stale one.

    The handler's lease connection is among those lost in every round. At the end no
    connection is left in use (close would wait for it, then warn).
    """
    assert pg._dsn is not None
    application = f"evtsrc-lost-{uuid.uuid4().hex[:8]}"
    dsn = f"{pg._dsn}?application_name={application}"
    backend = await PostgresBackend.connect(dsn, tables=pg.names, max_size=4, timeout=5)
    domain = Domain(backend, aggregates=[Counter, Ledger])
    seen = Seen()
    runner = domain.handler(seen, poll_interval=0.2)
    await runner.start()
    counters = domain.repository(Counter)
    unavailable = 0
    try:
        for round_ in range(12):
            await asyncio.sleep(0.3)  # the runner checks its lease
            assert await _terminate(pg._dsn, application) > 0
            await asyncio.sleep(0.3)
            for attempt in range(3):
                try:
                    await asyncio.wait_for(counters.execute(f"c{round_}", Counter.do_one), 10)
                    break
                except StoreUnavailable as error:  # a connection lost before it was noticed
                    assert not error.outcome_unknown or attempt < 2
                    unavailable += 1
            else:
                pytest.fail("three attempts in a row met a lost connection")
        assert backend._connections.out <= 3  # never more than the limit
        for round_ in range(12):
            assert (await asyncio.wait_for(counters.load(f"c{round_}"), 10)).version == 1
    finally:
        await asyncio.wait_for(runner.stop(), 10)
        await asyncio.wait_for(domain.close(), 10)
    assert backend._connections.out == 0
    assert "still in use" not in caplog.text
    assert unavailable < 12


async def test_waiting_for_a_connection_is_bounded(pg: PostgresBackend) -> None:
    assert pg._dsn is not None
    backend = await PostgresBackend.connect(pg._dsn, tables=pg.names, max_size=2, timeout=0.5)
    gate = postgres_gate(backend)
    await gate.hold("held")
    holding = asyncio.ensure_future(backend.append("s", "held", 0, _new()))
    await gate.wait_held("held")  # the one connection the backend may use is in that transaction
    started = asyncio.get_running_loop().time()
    with pytest.raises(StoreUnavailable) as raised:
        await asyncio.wait_for(backend.append("s", "waiting", 0, _new()), 5)
    waited = asyncio.get_running_loop().time() - started
    assert not raised.value.outcome_unknown and isinstance(raised.value.__cause__, TimeoutError)
    assert "append to s/waiting" in str(raised.value) and 0.4 < waited < 2
    await gate.close()
    assert len(await holding) == 1
    assert [r.aggregate_id for r in await backend.read_streams(["s"])] == ["held"]
    await asyncio.wait_for(backend.close(), 10)


async def test_close_is_bounded_while_a_started_handler_holds_its_lease(
    pg: PostgresBackend,
) -> None:
    assert pg._dsn is not None
    backend = await PostgresBackend.connect(pg._dsn, tables=pg.names, timeout=1)
    domain = Domain(backend, aggregates=[Counter, Ledger])
    runner = domain.handler(Seen(), poll_interval=0.1)
    await runner.start()
    await domain.repository(Counter).execute("c", Counter.do_one)
    started = asyncio.get_running_loop().time()
    await asyncio.wait_for(domain.close(), 10)  # the lease's connection is still out
    assert asyncio.get_running_loop().time() - started < 3
    assert backend.pool.is_closing()
    await asyncio.wait_for(runner.stop(), 10)  # the runner notices and stops without hanging
