"""Fault tests: every server backend through killed connections and server restarts.

Each test owns its server (see `servers.py`): kill tests end every connection of
the library 20 times while writers and a started handler run; restart tests stop
and start the server. `scenario.run` then checks that every acknowledged command
is stored, the handler saw every event, no call hung and connection counts came
back. The figures of each run print in pytest's terminal summary.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pytest

from evtsrc.backends import Backend, TableNames
from tests.backends import sqlalchemy_url, unique_prefix

from .proxy import CuttingProxy
from .scenario import Count, Fault, Figures, run
from .servers import Server, Servers

if TYPE_CHECKING:
    from evtsrc.backends.postgres import PostgresBackend

TEARDOWN_BOUND = 20.0
KILL_ROUNDS = 20
KILL_GAP = 0.3
RESTART_GAP = 1.0


@attrs.frozen
class Target:
    name: str
    server: str
    open: Callable[[Server, str, TableNames], Any]
    """(server, url, names) -> async context manager yielding (backend, counts)."""
    push: bool = False


Opened = tuple[Backend, dict[str, Count]]


async def _pg_count(server: Server, query: str) -> int:
    import asyncpg

    connection = await asyncpg.connect(server.url, timeout=10)
    try:
        return int(await connection.fetchval(query))
    finally:
        await connection.close()


PG_BUSY = (
    "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
    "AND pid <> pg_backend_pid() AND state <> 'idle' AND query NOT ILIKE 'LISTEN%'"
)
"""Sessions of the library's that are not idle: none once everything is quiet."""


async def _closed(backend: Backend) -> bool:
    """Close `backend` within a bound; whether it closed."""
    try:
        await asyncio.wait_for(backend.close(), TEARDOWN_BOUND)
    except TimeoutError:
        return False
    except Exception:
        pass
    return True


@asynccontextmanager
async def _asyncpg(server: Server, url: str, names: TableNames) -> AsyncIterator[Opened]:
    from evtsrc.backends.postgres import PostgresBackend

    backend = await PostgresBackend.connect(url, tables=names)

    async def busy() -> int:
        return await _pg_count(server, PG_BUSY)

    try:
        yield backend, {**_asyncpg_counts(backend), "busy sessions": busy}
    finally:
        if not await _closed(backend):
            backend.pool.terminate()  # a connection never given back would keep close() waiting


def _asyncpg_counts(backend: PostgresBackend) -> dict[str, Count]:
    """Connections of `backend`'s pool in someone's hands, and its own count's error.

    The backend keeps the connections its statements used checked out, idle, as many
    as it ever used at once since they were last lost (`HeldConnections`): how many
    depends on how the statements overlapped, before the faults or after. Those are
    not counted; a connection out of the pool and not kept idle is in use (the
    leases') or leaked. And the backend's own count of connections out must match
    the pool's, or its limit would wait for connections it does not have.
    """
    from evtsrc.backends.postgres._connections import usable

    pool, held = backend.pool, backend._connections

    def checked_out() -> int:
        return pool.get_size() - pool.get_idle_size()

    def live_idle() -> int:
        return sum(usable(c) for c in held._idle)

    async def in_hand() -> int:
        return checked_out() - live_idle()

    async def miscounted() -> int:
        # Idle connections found closed only when next taken are counted until then.
        dead_idle = len(held._idle) - live_idle()
        return abs(held.out - dead_idle - checked_out())

    return {"pool checked out, not kept idle": in_hand, "miscounted": miscounted}


@asynccontextmanager
async def _sqlalchemy(server: Server, url: str, names: TableNames) -> AsyncIterator[Opened]:
    from evtsrc.backends.sqlalchemy import SqlAlchemyBackend

    backend = SqlAlchemyBackend(
        sqlalchemy_url(url), tables=names, pool_timeout=5.0, connect_timeout=5.0
    )
    pool: Any = backend.engine.pool

    async def checked_out() -> int:
        return int(pool.checkedout())

    try:
        yield backend, {"engine.pool.checkedout()": checked_out}
    finally:
        await _closed(backend)


@asynccontextmanager
async def _behind_proxy(server: Server, connect: Callable[[int], Backend]) -> AsyncIterator[Opened]:
    """The backend `connect(port)` makes, reaching `server` through a proxy on `port`.

    The proxy cuts every connection when the test kills them (`backend.proxy`).
    """
    proxy = CuttingProxy(server.port)
    await proxy.start()
    try:
        backend = connect(proxy.port)
        backend.proxy = proxy  # type: ignore[attr-defined]

        async def opened() -> int:
            return proxy.open_connections

        try:
            yield backend, {"open connections": opened}
        finally:
            with contextlib.suppress(Exception):
                await backend.close()
    finally:
        await proxy.close()


def _mongo(server: Server, url: str, names: TableNames) -> AbstractAsyncContextManager[Opened]:
    from evtsrc.backends.mongo import MongoBackend

    return _behind_proxy(
        server,
        lambda port: MongoBackend.connect(
            url.replace(f":{server.port}/", f":{port}/"),
            "evtsrc_faults",
            collections=names,
            server_selection_timeout=5.0,
            wait_queue_timeout=5.0,
            transaction_timeout=10.0,
        ),
    )


def _neo4j(server: Server, url: str, names: TableNames) -> AbstractAsyncContextManager[Opened]:
    from evtsrc.backends.neo4j import Neo4jBackend

    return _behind_proxy(
        server,
        lambda port: Neo4jBackend.connect(
            f"bolt://127.0.0.1:{port}",
            labels=names,
            # A call can take all three (a last retry that waits for a connection and
            # then for its handshake), so they add up to well under the calls' bound.
            connection_acquisition_timeout=3.0,
            connection_timeout=3.0,
            max_transaction_retry_time=3.0,
        ),
    )


TARGETS = {
    t.name: t
    for t in [
        Target("asyncpg", "postgres", _asyncpg, push=True),
        Target("sqlalchemy-postgres", "postgres", _sqlalchemy, push=True),
        Target("sqlalchemy-mariadb", "mariadb", _sqlalchemy),
        Target("mongo", "mongo", _mongo),
        Target("neo4j", "neo4j", _neo4j),
        Target("neo4j-4.4", "neo4j44", _neo4j),
    ]
}


async def _kill_all(server: Server, backend: Backend) -> Callable[[int], Awaitable[None]]:
    """Ends every connection of the library, as the server's own admin would."""
    if server.name == "postgres":
        import asyncpg

        async def terminate(_: int) -> None:
            killer = await asyncpg.connect(server.url, timeout=10)
            try:
                await killer.fetch(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
                )
            finally:
                await killer.close()

        return terminate
    if server.name == "mariadb":
        import asyncmy

        async def kill(_: int) -> None:
            killer = await asyncmy.connect(
                host="127.0.0.1", port=server.port, user="es", password="es", connect_timeout=10
            )
            try:
                async with killer.cursor() as cursor:
                    await cursor.execute(
                        "SELECT id FROM information_schema.processlist "
                        "WHERE user = 'es' AND id <> connection_id()"
                    )
                    for (session,) in await cursor.fetchall():
                        with contextlib.suppress(Exception):  # ended meanwhile
                            await cursor.execute(f"KILL CONNECTION {int(session)}")
            finally:
                killer.close()

        return kill
    proxy: CuttingProxy = backend.proxy  # type: ignore[attr-defined]

    async def cut(_: int) -> None:
        proxy.cut()

    return cut


async def _scenario(
    servers: Servers, tmp_path: Path, name: str, fault_name: str, rounds: int
) -> Figures:
    target = TARGETS[name]
    server = servers.get(target.server)
    names = TableNames(prefix=unique_prefix())
    figures = Figures(name, fault_name)
    async with target.open(server, server.url, names) as (backend, counts):
        await asyncio.wait_for(backend.create_schema(), TEARDOWN_BOUND)
        fault: Fault
        if fault_name == "kill":
            fault = await _kill_all(server, backend)
            gap = KILL_GAP
        else:
            # A crash (SIGKILL) of MariaDB keeps every acknowledged commit; SecantusDB's
            # loses the last ones, and PostgreSQL's with synchronous_commit=off too.
            modes = ["fast", "immediate"] if server.name == "mariadb" else ["fast"]

            async def restart(n: int) -> None:
                await server.restart(modes[n % len(modes)])

            fault = restart
            gap = RESTART_GAP
        try:
            await run(
                backend,
                figures,
                fault,
                rounds=rounds,
                gap=gap,
                connections=counts,
                push=target.push,
            )
        finally:
            figures.record(tmp_path)
            print(f"\nFAULTS {figures.line()}")
            with contextlib.suppress(Exception):
                await asyncio.wait_for(backend.drop_schema(), TEARDOWN_BOUND)
    return figures


@pytest.mark.parametrize("name", list(TARGETS))
async def test_kill_every_connection(servers: Servers, tmp_path: Path, name: str) -> None:
    figures = await _scenario(servers, tmp_path, name, "kill", KILL_ROUNDS)
    assert not figures.errors, f"{figures.line()}\n" + "\n".join(figures.errors)


@pytest.mark.parametrize("name", list(TARGETS))
async def test_restart_the_server(servers: Servers, tmp_path: Path, name: str) -> None:
    figures = await _scenario(servers, tmp_path, name, "restart", 2)
    assert not figures.errors, f"{figures.line()}\n" + "\n".join(figures.errors)


async def test_asyncpg_counts_leaks_not_kept_connections(servers: Servers) -> None:
    """Connections kept idle after a burst are no leak; one never given back is."""
    from evtsrc.backends.postgres import PostgresBackend

    backend = await PostgresBackend.connect(servers.get("postgres").url)
    try:
        counts = _asyncpg_counts(backend)
        before = {name: await count() for name, count in counts.items()}
        # Six statements at once: the backend keeps six connections idle after them.
        await asyncio.gather(*(backend._fetch("burst", "SELECT pg_sleep(0.2)") for _ in range(6)))
        assert len(backend._connections._idle) == 6
        assert {name: await count() for name, count in counts.items()} == before
        taken = await backend._connections.take()  # and never given back: a leak
        try:
            after = {name: await count() for name, count in counts.items()}
            assert after == {**before, "pool checked out, not kept idle": 1}
        finally:
            await backend._connections.give_back(taken)
    finally:
        await backend.close()
