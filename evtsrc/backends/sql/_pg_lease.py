"""Handler leases on PostgreSQL: session advisory locks on a connection of their own."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from .._support.lease import SharedSession
from ..base import process_label
from ._pg_errors import LOST, OUTAGE

PgConnection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"


def advisory_key(store: str, name: str) -> int:
    """A signed 64-bit advisory-lock key for handler `name` of the event store `store`."""
    digest = hashlib.sha256(f"evtsrc\0{store}\0{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


MAX_APPLICATION_NAME = 63
"""The most bytes of `application_name` PostgreSQL keeps (it cuts the rest)."""


def holder_sql(classid: str, objid: str) -> str:
    """The statement finding the session that holds an advisory lock, by its key's halves.

    `classid` and `objid` are the parameter markers of `key_parts`. Its row: the
    session's pid, application name, client address and port. A 64-bit key shows in
    `pg_locks` as its high and low 32 bits, with `objsubid` 1.
    """
    return (
        "SELECT l.pid, a.application_name, host(a.client_addr), a.client_port "
        "FROM pg_locks AS l LEFT JOIN pg_stat_activity AS a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        f"AND l.classid = CAST(CAST({classid} AS bigint) AS oid) "
        f"AND l.objid = CAST(CAST({objid} AS bigint) AS oid) LIMIT 1"
    )


def key_parts(key: int) -> tuple[int, int]:
    """A 64-bit advisory key as `pg_locks` shows it: (classid, objid), its high and low halves."""
    return (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF


def application_name(label: str) -> str:
    """`label` (`process_label()`) fit for `application_name`: ASCII, its host cut to fit."""
    text = label.encode("ascii", "replace").decode()
    if len(text) <= MAX_APPLICATION_NAME:
        return text
    host, sep, pid = text.rpartition(" pid ")
    return host[: MAX_APPLICATION_NAME - len(sep) - len(pid)] + sep + pid


def holder_description(row: Sequence[Any] | None) -> str | None:
    """Who holds a lock, from the row of `holder_sql`: None if no session holds it.

    The application name the holder's leases connection set (`process_label()`, for
    evtsrc's), then the server's session: its pid and the client's address.
    """
    if row is None:
        return None
    pid, application, host, port = row
    session = f"PostgreSQL session {pid}"
    if host is not None:
        session += f" from {host}" if port is None or port < 0 else f" from {host}:{port}"
    return f"{application} ({session})" if application else session


class AdvisoryLocks:
    """The `SessionLocks` of PostgreSQL leases: `pg_try_advisory_lock(key)`.

    `give_back` must free every lock the session holds (asyncpg's reset does) or
    close it; `close` is for a connection that failed, whose state is unknown.
    """

    def __init__(
        self,
        connect: Callable[[], Awaitable[PgConnection]],
        give_back: Callable[[PgConnection], Awaitable[None]],
        close: Callable[[PgConnection], Awaitable[None]],
    ) -> None:
        self._connect = connect
        self._give_back = give_back
        self._close = close

    async def connect(self) -> PgConnection:
        """A connection lent for the leases, naming this process as its `application_name`.

        So that `lease_holder` reports it. The reset when it is given back undoes it.
        """
        connection = await self._connect()
        try:
            name = application_name(process_label())
            await connection.fetchval("SELECT set_config('application_name', $1, false)", name)
        except BaseException:
            await self._close(connection)
            raise
        return connection

    async def try_lock(self, connection: PgConnection, key: int) -> bool:
        """Take the lock if no session holds it."""
        taken: bool = await connection.fetchval("SELECT pg_try_advisory_lock($1)", key)
        return taken

    async def holds(self, connection: PgConnection, key: int) -> bool:
        """Whether the connection is alive, and so its locks held."""
        await connection.fetchval("SELECT 1")
        return True

    async def unlock(self, connection: PgConnection, key: int) -> None:
        """Free the lock."""
        await connection.fetchval("SELECT pg_advisory_unlock($1)", key)

    async def give_back(self, connection: PgConnection) -> None:
        """Free the locks with the rest of the session's state, and the connection."""
        await self._give_back(connection)

    async def discard(self, connection: PgConnection) -> None:
        """Close a connection that failed: the server frees the locks."""
        await self._close(connection)

    def lost(self, error: Exception) -> bool:
        """Whether `error` leaves the locks' session in doubt."""
        return isinstance(error, (*LOST, asyncpg.PostgresError, asyncpg.InterfaceError))


def advisory_leases(
    connect: Callable[[], Awaitable[PgConnection]],
    give_back: Callable[[PgConnection], Awaitable[None]],
    close: Callable[[PgConnection], Awaitable[None]],
    *,
    timeout: float,
) -> SharedSession[PgConnection, int]:
    """A backend's leases, as advisory locks on one connection lent by `connect`.

    `give_back` must free every lock the session holds (asyncpg's reset does) or close
    it; `close` is for a connection that failed. Each statement takes at most `timeout`
    seconds.
    """
    return SharedSession(AdvisoryLocks(connect, give_back, close), outage=OUTAGE, timeout=timeout)
