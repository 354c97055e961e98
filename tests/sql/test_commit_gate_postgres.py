"""The PostgreSQL commit gate holds a writer open with its positions taken, and leaves nothing."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest

from evtsrc.backends import Backend, NewEvent
from evtsrc.backends.postgres import PostgresBackend
from evtsrc.testing.commit_gates import CommitGate
from evtsrc.testing.commit_gates._postgres import postgres_gate
from tests.backends import POSTGRES_ENV, BackendTarget

from .conftest import SQL_TARGETS


@pytest.fixture(params=[t for t in SQL_TARGETS if t.env == POSTGRES_ENV], ids=lambda t: t.name)
def target(request: pytest.FixtureRequest) -> BackendTarget:
    chosen: BackendTarget = request.param
    return chosen


@pytest.fixture
async def gate(sql_backend: Backend) -> CommitGate:
    return postgres_gate(sql_backend)


def _new() -> list[NewEvent]:
    return [NewEvent("one", {"n": 1}, datetime.now(UTC))]


async def _gate_objects(backend: Backend) -> int:
    """Triggers and functions a commit gate made that still exist."""
    import asyncpg

    dsn = _dsn(backend)
    connection = await asyncpg.connect(dsn)
    try:
        return int(
            await connection.fetchval(
                "SELECT (SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'evtsrc_commit_gate_%')"
                " + (SELECT count(*) FROM pg_proc WHERE proname LIKE 'evtsrc_commit_gate_%')"
            )
        )
    finally:
        await connection.close()


def _dsn(backend: Backend) -> str:
    if isinstance(backend, PostgresBackend):
        assert backend._dsn is not None
        return backend._dsn
    from evtsrc.backends.sqlalchemy import SqlAlchemyBackend

    assert isinstance(backend, SqlAlchemyBackend)
    url = backend.engine.url.set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


async def test_a_held_writer_waits_with_its_position_taken_while_a_later_one_commits(
    sql_backend: Backend, gate: CommitGate
) -> None:
    backend = sql_backend
    before = await _gate_objects(backend)
    try:
        await gate.hold("early")
        early = asyncio.ensure_future(backend.append("s", "early", 0, _new()))
        await gate.wait_held("early")
        assert not early.done()
        [late] = await asyncio.wait_for(backend.append("s", "late", 0, _new()), 10)
        # The held writer's transaction began first, so readers wait for it.
        assert await backend.read_streams(["s"]) == []
        assert await backend.last_position(["s"]) == 0
        await gate.release("early")
        [held] = await asyncio.wait_for(early, 10)
        assert held.position < late.position  # taken before the later writer's
        assert [r.aggregate_id for r in await backend.read_streams(["s"])] == ["early", "late"]
        assert await backend.last_position(["s"]) == late.position
    finally:
        await gate.close()
    assert await _gate_objects(backend) == before


async def test_other_aggregates_pass_a_hold(sql_backend: Backend, gate: CommitGate) -> None:
    try:
        await gate.hold("held")
        [record] = await asyncio.wait_for(sql_backend.append("t", "free", 0, _new()), 10)
        assert record.version == 1
        await gate.release("held")
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await gate.wait_held("free")
    finally:
        await gate.close()


async def test_jitter_delays_every_commit_and_close_removes_it(
    sql_backend: Backend, gate: CommitGate
) -> None:
    backend = sql_backend
    await gate.jitter(0.3)
    try:
        started = time.monotonic()
        stored = await asyncio.wait_for(
            asyncio.gather(*(backend.append("j", f"a{i}", 0, _new()) for i in range(8))), 10
        )
        assert time.monotonic() - started > 0.05  # eight random delays: not all near 0
        positions = [r[0].position for r in stored]
        assert sorted(r.position for r in await backend.read_streams(["j"])) == sorted(positions)
    finally:
        await gate.close()
    started = time.monotonic()
    for i in range(5):
        await backend.append("j", f"b{i}", 0, _new())
    assert time.monotonic() - started < 1
    assert await _gate_objects(backend) == 0


async def test_close_releases_a_held_writer(sql_backend: Backend, gate: CommitGate) -> None:
    await gate.hold("h")
    writer = asyncio.ensure_future(sql_backend.append("s", "h", 0, _new()))
    await gate.wait_held("h")
    await asyncio.wait_for(gate.close(), 10)
    assert len(await asyncio.wait_for(writer, 10)) == 1
    await gate.close()  # a second close does nothing
