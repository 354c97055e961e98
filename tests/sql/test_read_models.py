"""Read models in the events' database: writes and bookmark commit together, exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import closing
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from evtsrc import (
    BookmarkMoved,
    DefinitionError,
    Domain,
    EventMeta,
    HandlerError,
    RetryPolicy,
    TransactionalHandler,
    on_event,
)
from evtsrc.backends import Backend, InMemoryBackend, ParkedAggregate, ParkedEvents
from evtsrc.backends.base import ParkingTransaction
from evtsrc.backends.postgres import PostgresBackend
from evtsrc.backends.sqlalchemy import SqlAlchemyBackend
from evtsrc.backends.sqlite import SqliteBackend
from tests.conformance.model import Counter, Ledger, One


class Applied(TransactionalHandler[Any], name="applied"):
    """Writes one row per event it applies, in the batch's transaction."""

    def __init__(
        self, table: str, fail_on: set[str] | None = None, flaky: dict[str, int] | None = None
    ) -> None:
        self.table = table
        self.fail_on = fail_on or set()
        self.flaky = flaky or {}
        """Aggregate ids whose events fail, after their row is written, this many more times."""
        self.gate: asyncio.Event | None = None
        self.reached = asyncio.Event()
        self.errors: list[int] = []

    @on_event
    async def one(self, event: One, meta: EventMeta) -> None:
        connection = self.connection
        if isinstance(connection, sa.ext.asyncio.AsyncConnection):
            await connection.execute(
                sa.text(f"INSERT INTO {self.table} (position, aggregate_id) VALUES (:p, :a)"),
                {"p": meta.position, "a": meta.aggregate_id},
            )
        elif isinstance(connection, sqlite3.Connection):
            connection.execute(
                f"INSERT INTO {self.table} (position, aggregate_id) VALUES (?, ?)",
                (meta.position, meta.aggregate_id),
            )
        else:
            await connection.execute(
                f"INSERT INTO {self.table} (position, aggregate_id) VALUES ($1, $2)",
                meta.position,
                meta.aggregate_id,
            )
        if meta.aggregate_id in self.fail_on:
            raise RuntimeError(f"cannot apply {meta.aggregate_id}")
        if self.flaky.get(meta.aggregate_id, 0) > 0:
            self.flaky[meta.aggregate_id] -= 1
            raise RuntimeError(f"{meta.aggregate_id} failed this time")
        if self.gate is not None and meta.aggregate_id == "e6":
            self.reached.set()
            await self.gate.wait()

    async def on_error(self, error: Exception, event: object, meta: EventMeta) -> None:
        self.errors.append(meta.position)


async def _sql(backend: Backend, statement: str) -> list[tuple[Any, ...]]:
    if isinstance(backend, SqlAlchemyBackend):
        async with backend.engine.begin() as connection:
            result = await connection.execute(sa.text(statement))
            return [tuple(row) for row in result] if result.returns_rows else []
    if isinstance(backend, SqliteBackend):
        with closing(sqlite3.connect(backend.path, isolation_level=None)) as connection:
            return [tuple(row) for row in connection.execute(statement)]
    assert isinstance(backend, PostgresBackend)
    async with backend.pool.acquire() as connection:
        return [tuple(row) for row in await connection.fetch(statement)]


@pytest.fixture
async def table(sql_backend: Backend) -> str:
    name = f"{sql_backend.names.prefix}applied"  # type: ignore[attr-defined]
    await _sql(sql_backend, f"CREATE TABLE {name} (position BIGINT, aggregate_id VARCHAR(50))")
    return name


async def _fill(domain: Domain, count: int = 10) -> list[int]:
    positions = []
    for n in range(1, count + 1):
        counter = await domain.repository(Counter).execute(f"e{n}", Counter.do_one)
        positions.append(counter.last_position)
    return positions


async def _rows(backend: Backend, table: str) -> list[int]:
    return sorted(row[0] for row in await _sql(backend, f"SELECT position FROM {table}"))


async def test_a_failure_mid_batch_rolls_the_batch_back_and_a_rerun_applies_it_once(
    sql_backend: Backend, table: str
) -> None:
    domain = Domain(sql_backend, aggregates=[Counter, Ledger])
    positions = await _fill(domain)
    handler = Applied(table, fail_on={"e7"})
    runner = domain.handler(handler, batch_size=4)
    with pytest.raises(HandlerError, match="cannot apply e7"):
        await runner.run_once()
    assert await _rows(sql_backend, table) == positions[:4]
    assert await sql_backend.get_bookmark("applied") == positions[3]
    handler.fail_on.clear()
    assert await runner.run_once() == 6
    assert await _rows(sql_backend, table) == positions
    rerun = domain.handler(Applied(table))
    assert await rerun.run_once() == 0
    assert await _rows(sql_backend, table) == positions


async def test_a_crash_mid_batch_leaves_neither_rows_nor_bookmark(
    sql_backend: Backend, table: str
) -> None:
    domain = Domain(sql_backend, aggregates=[Counter, Ledger])
    positions = await _fill(domain)
    handler = Applied(table)
    handler.gate = asyncio.Event()
    crashing = asyncio.create_task(domain.handler(handler, batch_size=4).run_once())
    await handler.reached.wait()  # e5 and e6 are written in the open transaction
    crashing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await crashing
    assert await _rows(sql_backend, table) == positions[:4]
    assert await sql_backend.get_bookmark("applied") == positions[3]
    assert await domain.handler(Applied(table)).run_once() == 6
    assert await _rows(sql_backend, table) == positions


async def test_continue_on_error_rolls_back_only_the_failing_event(
    sql_backend: Backend, table: str
) -> None:
    domain = Domain(sql_backend, aggregates=[Counter, Ledger])
    positions = await _fill(domain, 5)
    handler = Applied(table, fail_on={"e3"})
    runner = domain.handler(handler, continue_on_error=True)
    assert await runner.run_once() == 4
    assert handler.errors == [positions[2]]
    assert await _rows(sql_backend, table) == [p for p in positions if p != positions[2]]
    assert await sql_backend.get_bookmark("applied") == positions[-1]


@pytest.mark.parametrize("continue_on_error", [False, True])
async def test_a_retried_event_leaves_the_writes_of_its_one_successful_attempt(
    sql_backend: Backend, table: str, continue_on_error: bool
) -> None:
    domain = Domain(sql_backend, aggregates=[Counter, Ledger])
    positions = await _fill(domain, 5)
    handler = Applied(table, flaky={"e2": 2, "e4": 1})
    policy = RetryPolicy(attempts=3, backoff=0.0, max_delay=0.0)
    runner = domain.handler(handler, retry=policy, continue_on_error=continue_on_error)
    assert await runner.run_once() == 5
    assert await _rows(sql_backend, table) == positions  # one row each: failed tries undone
    assert handler.flaky == {"e2": 0, "e4": 0}
    assert handler.errors == []
    assert await sql_backend.get_bookmark("applied") == positions[-1]


async def test_a_parked_event_leaves_no_row_until_its_retry_writes_it_once(
    sql_backend: Backend, table: str
) -> None:
    domain = Domain(sql_backend, aggregates=[Counter, Ledger])
    positions = await _fill(domain, 5)
    handler = Applied(table, fail_on={"e3"})
    runner = domain.handler(handler, park=True)
    assert await runner.run_once() == 4
    assert await _rows(sql_backend, table) == [p for p in positions if p != positions[2]]
    assert [(p.aggregate_id, p.position) for p in await runner.parked()] == [("e3", positions[2])]
    assert await sql_backend.get_bookmark("applied") == positions[-1]
    handler.fail_on.clear()
    assert await runner.retry_parked("counters", "e3") == 1
    assert await _rows(sql_backend, table) == positions
    assert await runner.parked() == []
    assert await runner.run_once() == 0


async def test_a_bookmark_moved_by_another_runner_refuses_the_commit(sql_backend: Backend) -> None:
    transactions: Any = sql_backend
    await sql_backend.set_bookmark("h", 5)
    with pytest.raises(BookmarkMoved, match="expected at 3 but is at 5"):
        async with transactions.batch_transaction() as transaction:
            await transaction.commit_bookmark("h", 3, 9)
    assert await sql_backend.get_bookmark("h") == 5
    async with transactions.batch_transaction() as transaction:
        await transaction.commit_bookmark("h", 5, 9)
        await transaction.commit_bookmark("new", 0, 4)
    assert (await sql_backend.get_bookmark("h"), await sql_backend.get_bookmark("new")) == (9, 4)


async def _rolled_back(transactions: Any, step: Callable[[Any], Awaitable[None]]) -> None:
    """`step(transaction)` in a batch transaction that then fails."""

    async def failing() -> None:
        async with transactions.batch_transaction() as transaction:
            assert isinstance(transaction, ParkingTransaction)
            await step(transaction)
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        await failing()


async def test_an_aggregate_parked_in_a_batch_commits_or_rolls_back_with_it(
    sql_backend: Backend,
) -> None:
    transactions: Any = sql_backend
    assert isinstance(sql_backend, ParkedEvents)
    entry = ParkedAggregate("counters", "e3", 1, 3, "RuntimeError: x", datetime.now(UTC))
    await _rolled_back(transactions, lambda transaction: transaction.park("h", entry))
    assert await sql_backend.parked("h") == []
    async with transactions.batch_transaction() as transaction:
        await transaction.park("h", entry)
    assert await sql_backend.parked("h") == [entry]
    await _rolled_back(transactions, lambda transaction: transaction.unpark("h", "counters", "e3"))
    assert await sql_backend.parked("h") == [entry]
    async with transactions.batch_transaction() as transaction:
        await transaction.unpark("h", "counters", "e3")
    assert await sql_backend.parked("h") == []


async def test_a_bookmark_expected_where_none_is_stored_refuses_the_commit(
    sql_backend: Backend,
) -> None:
    transactions: Any = sql_backend
    with pytest.raises(BookmarkMoved, match="expected at 3 but is at None"):
        async with transactions.batch_transaction() as transaction:
            await transaction.commit_bookmark("gone", 3, 9)
    assert await sql_backend.get_bookmark("gone") == 0


def test_a_transactional_handler_needs_a_transactional_store() -> None:
    domain = Domain(InMemoryBackend(), aggregates=[Counter, Ledger])
    with pytest.raises(DefinitionError, match="needs a bookmark store with transactions"):
        domain.handler(Applied("t"))


async def test_a_group_handling_buckets_at_once_writes_each_event_once(
    sql_backend: Backend, table: str
) -> None:
    domain = Domain(sql_backend, aggregates=[Counter, Ledger])
    positions = await _fill(domain, 24)
    handler = Applied(table)
    group = domain.handler_group(handler, buckets=6, concurrency=6, member_ttl=0.3)
    await group.start()
    try:
        await group.wait_for(positions[-1], timeout=20)
    finally:
        await group.stop()
    assert await _rows(sql_backend, table) == positions
    assert handler.errors == []


async def test_a_batch_whose_commit_reply_was_lost_is_not_applied_twice(
    sql_backend: Backend, table: str
) -> None:
    domain = Domain(sql_backend, aggregates=[Counter, Ledger])
    positions = await _fill(domain, 4)
    transactions: Any = sql_backend
    committing = transactions.batch_transaction
    lost: list[int] = []

    @contextlib.asynccontextmanager
    async def losing_the_first_reply() -> AsyncIterator[object]:
        async with committing() as transaction:
            yield transaction
        if not lost:  # committed; then the connection drops before its reply arrives
            lost.append(len(positions))
            positions.extend(await _fill_more(domain, 2))
            raise ConnectionResetError("the reply to the commit was lost")

    transactions.batch_transaction = losing_the_first_reply
    handler = Applied(table)
    runner = domain.handler(handler, poll_interval=0.01)
    await runner.start()
    try:
        await runner.wait_for(positions[-1], timeout=10)
    finally:
        await runner.stop()
    assert lost == [4]
    assert await _rows(sql_backend, table) == positions
    assert isinstance(runner.last_error, ConnectionResetError)


async def _fill_more(domain: Domain, count: int) -> list[int]:
    counters = domain.repository(Counter)
    done = [await counters.execute(f"more{n}", Counter.do_one) for n in range(count)]
    return [counter.last_position for counter in done]
