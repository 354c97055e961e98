"""The commit gate of both PostgreSQL backends: a trigger on the events table that waits.

On first use the gate adds a statement-level AFTER INSERT trigger to the backend's
events table. It runs in the appending transaction once the rows are in, and so
once their positions are taken (a position is the transaction's id), and before
the commit:

* for each aggregate id appended to, it takes a shared transaction advisory lock
  under the gate's own key; `hold()` keeps that lock exclusively on the gate's
  connection, so the append waits until `release()`, and `wait_held()` finds the
  waiting append in `pg_locks`;
* after `jitter(max_delay)`, it sleeps a random 0..`max_delay` seconds.

`close()` drops the trigger and its function and closes the gate's connection.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import TYPE_CHECKING, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from ...backends.base import Backend
from . import CommitGate

if TYPE_CHECKING:
    _Connection: TypeAlias = (
        asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]
    )

WAIT_HELD = 10.0
"""Seconds `wait_held` waits for an append to reach the hold."""
LOCK_TIMEOUT = "10s"
"""How long the gate's statements wait for a lock on the events table."""


def postgres_gate(backend: Backend) -> CommitGate:
    """The gate of a `PostgresBackend`, or of a `SqlAlchemyBackend` on PostgreSQL."""
    from ...backends.postgres import PostgresBackend

    if isinstance(backend, PostgresBackend):
        dsn = backend._dsn  # pyright: ignore[reportPrivateUsage]
        return _TriggerGate(backend.names.events, dsn, None if dsn else backend.pool)
    from ...backends.sqlalchemy import SqlAlchemyBackend

    if isinstance(backend, SqlAlchemyBackend) and backend.dialect == "postgresql":
        url = backend.engine.url.set(drivername="postgresql")
        return _TriggerGate(backend.names.events, url.render_as_string(hide_password=False))
    raise TypeError(f"no PostgreSQL commit gate for {type(backend).__name__}")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _TriggerGate(CommitGate):
    """A `CommitGate` through a trigger on the events table `events`.

    The gate connects to `dsn`, or borrows a connection of `pool` if given one.
    """

    def __init__(
        self, events: str, dsn: str | None, pool: asyncpg.Pool[asyncpg.Record] | None = None
    ) -> None:
        self._events = _quote(events)
        self._dsn = dsn
        self._pool = pool
        self._key = secrets.randbelow(2**31 - 1) + 1  # this gate's advisory-lock class
        self._function = f"evtsrc_commit_gate_{self._key}"
        self._connection: _Connection | None = None
        self._held: set[str] = set()

    async def _ready(self) -> _Connection:
        """The gate's connection, with the trigger installed."""
        if self._connection is not None:
            return self._connection
        connection = await self._connect()
        try:
            await connection.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
            await connection.execute(self._function_sql(0.0))
            await connection.execute(
                f"CREATE TRIGGER {self._function} AFTER INSERT ON {self._events} "
                "REFERENCING NEW TABLE AS appended FOR EACH STATEMENT "
                f"EXECUTE FUNCTION {self._function}()"
            )
        except BaseException:
            await self._disconnect(connection)
            raise
        self._connection = connection
        return connection

    async def _connect(self) -> _Connection:
        if self._dsn is not None:
            return await asyncpg.connect(self._dsn, timeout=WAIT_HELD)
        assert self._pool is not None
        return await self._pool.acquire(timeout=WAIT_HELD)

    async def _disconnect(self, connection: _Connection) -> None:
        if self._pool is None:
            await connection.close(timeout=WAIT_HELD)
        else:
            assert isinstance(connection, PoolConnectionProxy)
            await self._pool.release(connection, timeout=WAIT_HELD)

    def _function_sql(self, max_delay: float) -> str:
        """The trigger's function: wait on the held aggregate ids, then sleep up to `max_delay`."""
        sleep = f"PERFORM pg_sleep(random() * {max_delay!r});" if max_delay > 0 else ""
        return (
            f"CREATE OR REPLACE FUNCTION {self._function}() RETURNS trigger "
            "LANGUAGE plpgsql AS $gate$ DECLARE id text; BEGIN "
            "FOR id IN SELECT DISTINCT aggregate_id FROM appended LOOP "
            f"PERFORM pg_advisory_xact_lock_shared({self._key}, hashtext(id)); "
            f"END LOOP; {sleep} RETURN NULL; END $gate$"
        )

    async def hold(self, aggregate_id: str) -> None:
        """Make appends to `aggregate_id` wait in the trigger until `release`."""
        connection = await self._ready()
        if aggregate_id not in self._held:
            await connection.execute(
                f"SELECT pg_advisory_lock({self._key}, hashtext($1))", aggregate_id
            )
            self._held.add(aggregate_id)

    async def wait_held(self, aggregate_id: str) -> None:
        """Return once an append to `aggregate_id` waits for the gate's lock."""
        connection = await self._ready()
        waiting = (
            "SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            f"AND classid = {self._key} AND objid = hashtext($1)::oid AND objsubid = 2)"
        )
        async with asyncio.timeout(WAIT_HELD):
            while True:
                if await connection.fetchval(waiting, aggregate_id):
                    return
                await asyncio.sleep(0.01)

    async def release(self, aggregate_id: str) -> None:
        """Let the appends to `aggregate_id` commit."""
        connection = await self._ready()
        if aggregate_id in self._held:
            self._held.discard(aggregate_id)
            await connection.execute(
                f"SELECT pg_advisory_unlock({self._key}, hashtext($1))", aggregate_id
            )

    async def jitter(self, max_delay: float) -> None:
        """Make every append sleep a random 0..`max_delay` s in the trigger."""
        connection = await self._ready()
        await connection.execute(self._function_sql(max_delay))

    async def close(self) -> None:
        """Release every hold, drop the trigger and its function, let the connection go."""
        connection, self._connection = self._connection, None
        self._held.clear()
        if connection is None:
            return
        try:
            await connection.execute("SELECT pg_advisory_unlock_all()")
            await connection.execute(f"DROP FUNCTION IF EXISTS {self._function}() CASCADE")
        finally:
            await self._disconnect(connection)
