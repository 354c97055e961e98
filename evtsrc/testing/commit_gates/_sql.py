# pyright: reportPrivateUsage=false
# (a test-only gate reaches into the backend it gates)
"""Commit gates for the SQL backends on SQLite and MariaDB/MySQL; test-only.

The database itself makes an append wait once its rows have their positions,
with a trigger after each insert into the events table (so a multi-event append
passes the gate once per event):

* SQLite: a TEMP trigger calls a Python function registered on the appending
  connection, which waits (in that connection's thread) while the aggregate id
  is held, or sleeps for the jitter. The waiting writer keeps SQLite's write
  lock: other writers wait behind it, as SQLite always makes them. On
  `SqliteBackend` the trigger lives on the writer connection while the gate is
  open; on `SqlAlchemyBackend` it is created in every write transaction (the
  ones that `BEGIN IMMEDIATE`) and dropped before it ends, on whichever pooled
  connection runs it. Python 3.11's `sqlite3` cannot unregister a function:
  `close()` closes `SqliteBackend`'s writer connection (reopened on its next
  write), while a pooled connection keeps the function, idle without its
  trigger, until the pool closes it. (Disposing of the pool instead would
  strand connections still checked out, which never get closed.)
* MariaDB/MySQL: a trigger waits for a named lock (`GET_LOCK`) that the gate's
  own connection holds for each held aggregate id, taking another named lock
  first to show it waits; or sleeps for the jitter. The append lock stays
  taken meanwhile, so other appends wait behind it.

Each wait in a trigger gives up after `HOLD_LIMIT` seconds, failing the append.
`close()` drops the triggers and functions, leaving the database as it was.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import threading
import time
from typing import TYPE_CHECKING, Any

from ...backends.base import Backend
from ...backends.sql._identifiers import quote
from ...backends.sqlite import SqliteBackend
from . import CommitGate

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import AsyncConnection

    from ...backends.sqlalchemy import SqlAlchemyBackend

HOLD_LIMIT = 30.0
"""Seconds a held append waits in its trigger before it fails."""
WAIT_LIMIT = 10.0
"""Seconds `wait_held` waits for an append to arrive."""
_POLL = 0.005

FUNCTION = "evtsrc_commit_gate"
"""The SQLite function the TEMP trigger calls, and the trigger's name."""


def sql_gate(backend: Backend) -> CommitGate:
    """The commit gate of a `SqliteBackend`, or a `SqlAlchemyBackend` on SQLite or MariaDB/MySQL."""
    if isinstance(backend, SqliteBackend):
        return _SqliteBackendGate(backend)
    from ...backends.sqlalchemy import SqlAlchemyBackend

    if isinstance(backend, SqlAlchemyBackend):
        if backend.dialect == "sqlite":
            return _AlchemySqliteGate(backend)
        if backend.dialect in ("mysql", "mariadb"):
            return _MariaDbGate(backend)
    raise TypeError(f"sql_gate gates SQLite and MariaDB/MySQL backends, not {backend!r}")


class _Holds:
    """The held aggregate ids and the jitter, for the database threads that wait on them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._released: dict[str, threading.Event] = {}
        self._waiting: set[str] = set()
        self._max_delay = 0.0
        self._random = random.Random()

    def hold(self, aggregate_id: str) -> None:
        with self._lock:
            self._released.setdefault(aggregate_id, threading.Event())

    def release(self, aggregate_id: str) -> None:
        with self._lock:
            released = self._released.pop(aggregate_id, None)
        if released is not None:
            released.set()

    def jitter(self, max_delay: float) -> None:
        with self._lock:
            self._max_delay = max_delay

    def clear(self) -> None:
        """Release every hold and stop the jitter."""
        with self._lock:
            held, self._released = list(self._released.values()), {}
            self._max_delay = 0.0
        for released in held:
            released.set()

    def arrive(self, aggregate_id: str) -> None:
        """An event of `aggregate_id` was inserted: wait while it is held, then the jitter.

        Runs in the thread of the appending connection, called by the trigger.
        """
        with self._lock:
            released = self._released.get(aggregate_id)
            if released is not None:
                self._waiting.add(aggregate_id)
            delay = self._random.uniform(0, self._max_delay) if self._max_delay else 0.0
        if released is not None:
            try:
                if not released.wait(HOLD_LIMIT):
                    raise TimeoutError(f"{aggregate_id!r} was held for over {HOLD_LIMIT} s")
            finally:
                with self._lock:
                    self._waiting.discard(aggregate_id)
        if delay:
            time.sleep(delay)

    async def wait_held(self, aggregate_id: str) -> None:
        async with asyncio.timeout(WAIT_LIMIT):
            while aggregate_id not in self._waiting:  # noqa: ASYNC110 - set by another thread
                await asyncio.sleep(_POLL)


def _sqlite_trigger(events: str) -> str:
    return (
        f"CREATE TEMP TRIGGER IF NOT EXISTS {FUNCTION} AFTER INSERT ON main.{quote(events)} "
        f"FOR EACH ROW BEGIN SELECT {FUNCTION}(NEW.aggregate_id); END"
    )


_DROP_SQLITE_TRIGGER = f"DROP TRIGGER temp.{FUNCTION}"


class _SqliteBackendGate(CommitGate):
    """A TEMP trigger on `SqliteBackend`'s writer connection, from the first hold or jitter."""

    def __init__(self, backend: SqliteBackend) -> None:
        self._backend = backend
        self._holds = _Holds()
        self._installed = False

    async def hold(self, aggregate_id: str) -> None:
        await self._install()
        self._holds.hold(aggregate_id)

    async def wait_held(self, aggregate_id: str) -> None:
        await self._holds.wait_held(aggregate_id)

    async def release(self, aggregate_id: str) -> None:
        self._holds.release(aggregate_id)

    async def jitter(self, max_delay: float) -> None:
        await self._install()
        self._holds.jitter(max_delay)

    async def close(self) -> None:
        self._holds.clear()
        if self._installed and not self._backend._closed:
            await self._backend._write(self._drop)
        self._installed = False

    async def _install(self) -> None:
        if not self._installed:
            self._backend._append_on_the_writer_thread()  # where the trigger waits
            await self._backend._write(self._create)
            self._installed = True

    def _create(self) -> None:  # on the writer thread
        connection = self._backend._writing()
        connection.create_function(FUNCTION, 1, self._holds.arrive)
        connection.execute(_sqlite_trigger(self._backend.names.events))

    def _drop(self) -> None:  # on the writer thread
        # Closing the connection takes the TEMP trigger and the function with it.
        connection, self._backend._writer_connection = self._backend._writer_connection, None
        if connection is not None:
            connection.close()


class _AlchemySqliteGate(CommitGate):
    """A TEMP trigger in each write transaction of a `SqlAlchemyBackend` on SQLite."""

    def __init__(self, backend: SqlAlchemyBackend) -> None:
        self._engine = backend.engine.sync_engine
        self._trigger = _sqlite_trigger(backend.names.events)
        self._holds = _Holds()
        self._listening = False
        self._open = 0
        """Transactions with the trigger created and not yet ended."""

    async def hold(self, aggregate_id: str) -> None:
        self._listen()
        self._holds.hold(aggregate_id)

    async def wait_held(self, aggregate_id: str) -> None:
        await self._holds.wait_held(aggregate_id)

    async def release(self, aggregate_id: str) -> None:
        self._holds.release(aggregate_id)

    async def jitter(self, max_delay: float) -> None:
        self._listen()
        self._holds.jitter(max_delay)

    async def close(self) -> None:
        from sqlalchemy import event

        self._holds.clear()
        if not self._listening:
            return
        event.remove(self._engine, "begin", self._begin)
        async with asyncio.timeout(WAIT_LIMIT):  # transactions under way drop their trigger
            while self._open:  # noqa: ASYNC110 - a counter: ends as the transactions end
                await asyncio.sleep(_POLL)
        event.remove(self._engine, "commit", self._end)
        event.remove(self._engine, "rollback", self._end)
        self._listening = False

    def _listen(self) -> None:
        from sqlalchemy import event

        if not self._listening:
            # After the backend's own begin hook, which has issued BEGIN IMMEDIATE.
            event.listen(self._engine, "begin", self._begin)
            event.listen(self._engine, "commit", self._end)
            event.listen(self._engine, "rollback", self._end)
            self._listening = True

    def _begin(self, connection: sa.Connection) -> None:
        if not connection.get_execution_options().get("evtsrc_write", False):
            return
        self._open += 1
        connection.info[FUNCTION] = True
        driver: Any = connection.connection.dbapi_connection  # SQLAlchemy's aiosqlite adapter
        driver.create_function(FUNCTION, 1, self._holds.arrive)
        connection.exec_driver_sql(self._trigger)

    def _end(self, connection: sa.Connection) -> None:
        if not connection.info.pop(FUNCTION, False):
            return
        try:
            connection.exec_driver_sql(_DROP_SQLITE_TRIGGER)
        except Exception:  # a lost connection takes its trigger with it
            pass
        finally:
            self._open -= 1


class _MariaDbGate(CommitGate):
    """A trigger waiting on named locks held by the gate's own connection."""

    def __init__(self, backend: SqlAlchemyBackend) -> None:
        self._engine = backend.engine
        events = backend.names.events
        self._events = f"`{events.replace('`', '``')}`"
        trigger = f"{events}_commit_gate"
        if len(trigger) > 64:  # MariaDB's longest name
            trigger = f"evtsrc_gate_{hashlib.sha256(events.encode()).hexdigest()[:24]}"
        self._trigger = f"`{trigger.replace('`', '``')}`"
        self._scope = hashlib.sha256(events.encode()).hexdigest()[:8]
        self._connection: AsyncConnection | None = None
        self._max_delay: float | None = None
        """The delay of the trigger in place; None when there is none."""

    def _lock(self, kind: str, aggregate_id: str) -> str:
        digest = hashlib.md5(aggregate_id.encode()).hexdigest()  # as MariaDB's md5() of it
        return f"evtsrc-{kind}:{self._scope}:{digest}"

    async def hold(self, aggregate_id: str) -> None:
        await self._install(self._max_delay or 0.0)
        if await self._scalar("SELECT GET_LOCK(:name, 0)", self._lock("gate", aggregate_id)) != 1:
            raise RuntimeError(f"the gate lock of {aggregate_id!r} is taken elsewhere")

    async def wait_held(self, aggregate_id: str) -> None:
        waiting = self._lock("wait", aggregate_id)
        # A deadline, not a cancellation: a statement cancelled midway spoils the connection.
        deadline = asyncio.get_running_loop().time() + WAIT_LIMIT
        while await self._scalar("SELECT IS_USED_LOCK(:name)", waiting) is None:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"no append to {aggregate_id!r} waited in its hold")
            await asyncio.sleep(_POLL)  # the server says, when asked

    async def release(self, aggregate_id: str) -> None:
        await self._scalar("SELECT RELEASE_LOCK(:name)", self._lock("gate", aggregate_id))

    async def jitter(self, max_delay: float) -> None:
        await self._install(max_delay)

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            # Release first: the DROP waits for the appends still in the trigger.
            await connection.exec_driver_sql("DO RELEASE_ALL_LOCKS()")
            if self._max_delay is not None:
                await connection.exec_driver_sql(f"DROP TRIGGER {self._trigger}")
            await connection.exec_driver_sql("SET SESSION lock_wait_timeout = DEFAULT")
            await connection.commit()
        finally:
            await connection.close()
            self._max_delay = None

    async def _gate_connection(self) -> AsyncConnection:
        if self._connection is None:
            self._connection = await self._engine.connect()
            # DDL waits for appends under way, but not forever.
            await self._connection.exec_driver_sql("SET SESSION lock_wait_timeout = 10")
        return self._connection

    async def _scalar(self, query: str, name: str) -> Any:
        import sqlalchemy as sa

        connection = await self._gate_connection()
        found = await connection.scalar(sa.text(query), {"name": name})
        await connection.commit()
        return found

    async def _install(self, max_delay: float) -> None:
        """Create the trigger, or create it again with another delay."""
        if self._max_delay == max_delay:
            return
        connection = await self._gate_connection()
        if self._max_delay is not None:
            await connection.exec_driver_sql(f"DROP TRIGGER {self._trigger}")
        await connection.exec_driver_sql(self._trigger_sql(max_delay))
        await connection.commit()
        self._max_delay = max_delay

    def _trigger_sql(self, max_delay: float) -> str:
        lock = f"concat('evtsrc-%s:{self._scope}:', md5(NEW.aggregate_id))"
        sleep = f"DO SLEEP(RAND() * {max_delay!r});" if max_delay else ""
        return (
            f"CREATE TRIGGER {self._trigger} AFTER INSERT ON {self._events} FOR EACH ROW\n"
            "BEGIN\n"
            f"  DECLARE gate VARCHAR(64) DEFAULT {lock % 'gate'};\n"
            f"  DECLARE waiting VARCHAR(64) DEFAULT {lock % 'wait'};\n"
            "  DECLARE got INT;\n"
            "  IF IS_USED_LOCK(gate) IS NOT NULL THEN\n"
            "    DO GET_LOCK(waiting, 0);\n"
            f"    SET got = GET_LOCK(gate, {HOLD_LIMIT!r});\n"
            "    DO RELEASE_LOCK(gate);\n"
            "    DO RELEASE_LOCK(waiting);\n"
            "    IF got IS NULL OR got = 0 THEN\n"
            "      SIGNAL SQLSTATE '45000'\n"
            "        SET MESSAGE_TEXT = 'evtsrc commit gate: held too long';\n"
            "    END IF;\n"
            "  END IF;\n"
            f"  {sleep}\n"
            "END"
        )
