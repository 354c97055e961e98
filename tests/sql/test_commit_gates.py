"""The commit gates of SQLite and MariaDB: appends held open, delayed, and nothing left after."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from evtsrc.backends import Backend, NewEvent
from evtsrc.backends.sqlalchemy import SqlAlchemyBackend
from evtsrc.backends.sqlite import SqliteBackend
from evtsrc.testing.commit_gates import CommitGate, _sql, commit_gate
from tests.backends import TARGETS, opened

GATED = [t for t in TARGETS if t.name in ("sqlite", "sqlite3", "sqlalchemy-mariadb")]


@pytest.fixture(params=GATED, ids=lambda t: t.name)
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    async with opened(request.param) as fresh:
        yield fresh


@pytest.fixture
async def gate(backend: Backend) -> AsyncIterator[CommitGate]:
    opened = commit_gate(backend)
    try:
        yield opened
    finally:
        await opened.close()


def _new() -> list[NewEvent]:
    return [NewEvent("one", {}, datetime.now(UTC))]


async def _leftovers(backend: Backend) -> list[Any]:
    """The gate's triggers, functions and named locks still in the database."""
    if isinstance(backend, SqliteBackend):

        def temp_objects() -> list[Any]:
            connection = backend._writing()
            found = connection.execute("SELECT name FROM sqlite_temp_master").fetchall()
            try:
                connection.execute(f"SELECT {_sql.FUNCTION}('x')")
            except sqlite3.OperationalError as error:
                assert "no such function" in str(error)
            else:
                found.append(_sql.FUNCTION)
            return found

        return await backend._writer.run(temp_objects)
    assert isinstance(backend, SqlAlchemyBackend)
    async with backend.engine.connect() as connection:
        if backend.dialect == "sqlite":
            rows = await connection.exec_driver_sql("SELECT name FROM sqlite_temp_master")
            return list(rows)
        rows = await connection.execute(
            sa.text(
                "SELECT trigger_name FROM information_schema.triggers "
                "WHERE event_object_table = :table AND trigger_schema = database()"
            ),
            {"table": backend.names.events},
        )
        locks = await connection.exec_driver_sql(
            "SELECT count(*) FROM information_schema.processlist WHERE state = 'User lock'"
        )
        return [*rows, *(("waiting on a lock", n) for (n,) in locks if n)]


async def test_a_held_append_waits_with_its_position_taken_until_released(
    backend: Backend, gate: CommitGate
) -> None:
    await gate.hold("first")
    first = asyncio.create_task(backend.append("s", "first", 0, _new()))
    await gate.wait_held("first")
    second = asyncio.create_task(backend.append("s", "second", 0, _new()))
    done, _ = await asyncio.wait([first, second], timeout=0.3)
    assert not done  # SQLite and MariaDB serialise writers: the second waits behind the first
    assert await backend.read_streams(["s"]) == []  # readers go on, and see nothing yet
    await gate.release("first")
    [held], [after] = await asyncio.gather(first, second)
    assert held.position < after.position
    assert [r.aggregate_id for r in await backend.read_streams(["s"])] == ["first", "second"]
    await backend.append("s", "first", 1, _new())  # released for good


async def test_only_the_held_aggregate_waits(backend: Backend, gate: CommitGate) -> None:
    await gate.hold("held")
    [free] = await asyncio.wait_for(backend.append("s", "free", 0, _new()), 5)
    assert free.version == 1
    await gate.release("held")
    await backend.append("s", "held", 0, _new())


async def test_waiting_for_an_append_that_never_comes_times_out(
    backend: Backend, gate: CommitGate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_sql, "WAIT_LIMIT", 0.2)
    await gate.hold("nobody")
    with pytest.raises(TimeoutError):
        await gate.wait_held("nobody")


async def test_a_hold_never_released_fails_the_append_in_time(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_sql, "HOLD_LIMIT", 0.5)
    gate = commit_gate(backend)
    try:
        await gate.hold("stuck")
        with pytest.raises(Exception, match="held too long|user-defined function raised"):
            await asyncio.wait_for(backend.append("s", "stuck", 0, _new()), 10)
    finally:
        await gate.close()
    assert await backend.read_streams(["s"]) == []
    await backend.append("s", "stuck", 0, _new())


async def test_jitter_delays_appends_and_close_ends_it(backend: Backend, gate: CommitGate) -> None:
    await gate.jitter(0.05)
    loop = asyncio.get_running_loop()
    started = loop.time()
    for version in range(4):
        await backend.append("s", "a", version, _new())
    assert loop.time() - started > 0.01  # four random delays of up to 0.05 s
    await gate.close()
    assert await _leftovers(backend) == []
    await backend.append("s", "a", 4, _new())


async def test_close_leaves_nothing_behind(backend: Backend) -> None:
    gate = commit_gate(backend)
    await gate.jitter(0.001)
    await gate.hold("a")
    await gate.hold("b")
    held = asyncio.create_task(backend.append("s", "a", 0, _new()))
    await gate.wait_held("a")
    await gate.close()  # releases the holds first
    await held
    await gate.close()  # twice is harmless
    assert await _leftovers(backend) == []
    for aggregate_id in ("a", "b", "c"):
        version = len(await backend.read_aggregate("s", aggregate_id))
        await asyncio.wait_for(backend.append("s", aggregate_id, version, _new()), 5)


async def test_closing_a_gate_strands_no_pooled_connection(tmp_path: Any) -> None:
    """A transaction whose connection is not yet back in the pool when the gate closes."""
    backend = SqlAlchemyBackend(f"sqlite+aiosqlite:///{tmp_path / 'events.db'}")
    opened: list[object] = []
    closed: list[object] = []

    def connected(driver: object, _: object) -> None:
        opened.append(driver)

    def ended(driver: object, *_: object) -> None:
        closed.append(driver)

    engine = backend.engine.sync_engine
    event.listen(engine, "connect", connected)
    event.listen(engine, "close", ended)
    event.listen(engine, "close_detached", ended)
    await backend.create_schema()
    gate = commit_gate(backend)
    await gate.jitter(0.001)
    async with backend.engine.connect() as connection:
        await connection.execution_options(evtsrc_write=True)
        async with connection.begin():  # the gate's trigger comes and goes with it
            pass
        await gate.close()  # the transaction has ended; its connection is still out
    await backend.append("s", "a", 0, _new())
    await backend.close()
    unclosed = [c for c in opened if c not in closed]
    assert opened and not unclosed, f"{len(unclosed)} of {len(opened)} connections left open"
