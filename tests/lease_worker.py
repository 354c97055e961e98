"""A handler process for the two-process lease tests: `python -m tests.lease_worker`.

Arguments: target name, location, table prefix, output file. It runs the
`seen` handler until killed, appending "<pid> <aggregate id>" per event (and waiting
`STALL` seconds after an address of an aggregate whose id starts with "stall").
"""

from __future__ import annotations

import asyncio
import os
import sys

from evtsrc import Domain, EventMeta, on_event
from evtsrc.backends import Backend, TableNames
from tests.conformance.model import Address, Counter, Event, Ledger, Seen

MONGO_DATABASE = "evtsrc_tests"
LEASE_TTL = 2.0
"""The leases' time to live on MongoDB and Neo4j: short, so that the test of a killed
holder waits little."""
STALL = 1.5
"""Seconds the handler's callback waits on an address of an aggregate named "stall..."."""


class Recorder(Seen, name="seen"):
    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def _record(self, event: Event, meta: EventMeta) -> None:
        with open(self.path, "a") as out:
            out.write(f"{os.getpid()} {meta.aggregate_id}\n")

    @on_event
    async def addressed(self, event: Address, meta: EventMeta) -> None:
        await super().addressed(event, meta)
        if meta.aggregate_id.startswith("stall"):
            await asyncio.sleep(STALL)  # time for the test to freeze this process mid-batch


async def open_backend(target: str, location: str, prefix: str) -> Backend:
    tables = TableNames(prefix=prefix)
    if target == "asyncpg":
        from evtsrc.backends.postgres import PostgresBackend

        return await PostgresBackend.connect(location, tables=tables)
    if target == "sqlite3":
        from evtsrc.backends.sqlite import SqliteBackend

        return SqliteBackend(location, tables=tables)
    if target.startswith("neo4j"):
        from evtsrc.backends.neo4j import Neo4jBackend

        return Neo4jBackend.connect(location, labels=tables, lease_ttl=LEASE_TTL)
    if target == "mongo":
        from evtsrc.backends.mongo import MongoBackend

        return MongoBackend.connect(
            location, MONGO_DATABASE, collections=tables, lease_ttl=LEASE_TTL
        )
    from evtsrc.backends.sqlalchemy import SqlAlchemyBackend

    return SqlAlchemyBackend(location, tables=tables)


async def main(target: str, location: str, prefix: str, output: str) -> None:
    backend = await open_backend(target, location, prefix)
    domain = Domain(backend, aggregates=[Counter, Ledger])
    runner = domain.handler(Recorder(output), poll_interval=0.05, standby_interval=0.1)
    await runner.start()
    print("started", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
