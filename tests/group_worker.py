"""A worker process of the partitioned-group tests: `python -m tests.group_worker`.

Arguments: target name, location, table prefix, output file, bucket count. It runs the
`tally` handler as a member of its group until SIGTERM (it stops and leaves) or
SIGKILL. To the output file it appends, one line each:

* `<time> <pid> took <bucket>` once it holds a bucket's lease, and
  `<time> <pid> free <bucket>` just before it frees it (so each recorded hold lies
  inside the real one);
* `<time> <pid> event <aggregate id> <version>` per event handled (on MongoDB and
  Neo4j, whose handler is not transactional; on SQL it is a row in `<prefix>tally`);
* `<time> <pid> ORDER <aggregate id> <version> <last handled version>` if an event
  came before its aggregate's previous one.
"""

from __future__ import annotations

import asyncio
import faulthandler
import logging
import os
import signal
import sqlite3
import sys
import time
from typing import Any

from evtsrc import Domain, EventHandler, EventMeta, TransactionalHandler, on_event
from tests.conformance.model import Counter, Ledger, One
from tests.lease_worker import open_backend

MEMBER_TTL = 1.5
"""Seconds a member lasts without beating: short, so that a killed one's buckets move soon."""
BATCH = 50
STOP_REPORT = 10.0
"""Seconds after SIGTERM at which a worker still stopping prints what it waits on."""


def _out(path: str, line: str) -> None:
    with open(path, "a") as out:
        out.write(f"{time.time():.6f} {os.getpid()} {line}\n")


class Ownership(logging.Handler):
    """Writes the group's took/letting-go messages as `took`/`free` lines."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def emit(self, record: logging.LogRecord) -> None:
        message = str(record.msg)
        if message.endswith("took bucket %d"):
            _out(self.path, f"took {record.args[1]}")  # type: ignore[index]
        elif message.endswith("letting go of bucket %d"):
            _out(self.path, f"free {record.args[1]}")  # type: ignore[index]


class Tally(TransactionalHandler[Any], name="tally"):
    """One row per event, in the batch's transaction; the version before must be there."""

    def __init__(self, table: str, path: str) -> None:
        self.table = table
        self.path = path

    @on_event
    async def one(self, event: One, meta: EventMeta) -> None:
        before = await self._fetch(
            f"SELECT MAX(version) FROM {self.table} WHERE aggregate_id = ?", meta.aggregate_id
        )
        if (before or 0) != meta.version - 1:
            _out(self.path, f"ORDER {meta.aggregate_id} {meta.version} {before}")
        await self._fetch(
            f"INSERT INTO {self.table} (aggregate_id, version, position, pid) VALUES (?, ?, ?, ?)",
            meta.aggregate_id,
            meta.version,
            meta.position,
            os.getpid(),
        )

    async def _fetch(self, statement: str, *values: object) -> Any:
        """Run `statement` (with ? markers) on the batch's connection; its first value, if any."""
        connection = self.connection
        if isinstance(connection, sqlite3.Connection):
            row = connection.execute(statement, values).fetchone()
            return None if row is None else row[0]
        if type(connection).__module__.startswith("sqlalchemy"):
            import sqlalchemy as sa

            names = {f"v{n}": value for n, value in enumerate(values)}
            for name in names:
                statement = statement.replace("?", f":{name}", 1)
            result = await connection.execute(sa.text(statement), names)
            return result.scalar() if result.returns_rows else None
        for n in range(1, len(values) + 1):
            statement = statement.replace("?", f"${n}", 1)
        return await connection.fetchval(statement, *values)


class Noted(EventHandler, name="tally"):
    """The same check, for stores without transactions: each event noted in the output file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.last: dict[str, int] = {}

    @on_event
    def one(self, event: One, meta: EventMeta) -> None:
        before = self.last.get(meta.aggregate_id)
        if before is not None and meta.version > before + 1:
            _out(self.path, f"ORDER {meta.aggregate_id} {meta.version} {before}")
        self.last[meta.aggregate_id] = meta.version
        _out(self.path, f"event {meta.aggregate_id} {meta.version}")


async def main(target: str, location: str, prefix: str, output: str, buckets: str) -> None:
    logging.getLogger("evtsrc.handlers").setLevel(logging.INFO)
    logging.getLogger("evtsrc.handlers").addHandler(Ownership(output))
    backend = await open_backend(target, location, prefix)
    domain = Domain(backend, aggregates=[Counter, Ledger])
    sql = target != "mongo" and not target.startswith("neo4j")
    handler = Tally(f"{prefix}tally", output) if sql else Noted(output)
    group = domain.handler_group(
        handler, buckets=int(buckets), member_ttl=MEMBER_TTL, poll_interval=0.1, batch_size=BATCH
    )
    await group.start()
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    print("started", flush=True)
    await stopping.wait()
    faulthandler.dump_traceback_later(STOP_REPORT + 1)  # a blocked loop: where its thread is
    watchdog = asyncio.create_task(_report_tasks_after(STOP_REPORT))
    await group.stop()
    await backend.close()
    watchdog.cancel()
    faulthandler.cancel_dump_traceback_later()


async def _report_tasks_after(seconds: float) -> None:
    """If stopping takes `seconds`, print every task's stack to stderr (to see what waits)."""
    await asyncio.sleep(seconds)
    print(f"still stopping after {seconds} s; its tasks:", file=sys.stderr, flush=True)
    for task in asyncio.all_tasks():
        task.print_stack(file=sys.stderr)
    sys.stderr.flush()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
