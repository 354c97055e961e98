"""S1 on bare asyncpg: the round trips evtsrc makes, with nothing around them.

The driver's own limit for evtsrc's design, measured in the same run: a new
account is read once (one SELECT of its events, none yet), then every command is
the one statement evtsrc's PostgresBackend sends for an append (version check,
insert numbered by the transaction id), expecting the version this client
remembers. No aggregate, no encoding beyond `json.dumps`, no checks, and no
NOTIFY afterwards (evtsrc sends one per append, concurrently with the next).
"raw-asyncpg-read" also reads the account before every command: the limit for evtsrc
with no aggregate cache.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import asyncpg

from bench.common import Measured, Sizes, clock
from evtsrc.backends.sql._pg_positions import append_sql

SCHEMA = """
CREATE TABLE IF NOT EXISTS evtsrc_events (
    position bigint PRIMARY KEY,
    stream varchar(200) NOT NULL,
    aggregate_id varchar(200) NOT NULL,
    version integer NOT NULL,
    type varchar(200) NOT NULL,
    data jsonb NOT NULL,
    timestamp timestamptz NOT NULL,
    UNIQUE (stream, aggregate_id, version)
);
CREATE INDEX IF NOT EXISTS evtsrc_events_stream_ix ON evtsrc_events (stream, position);
"""

READ = (
    "SELECT position, version, type, data, timestamp FROM evtsrc_events "
    "WHERE stream = $1 AND aggregate_id = $2 AND version > $3 ORDER BY version LIMIT 1000"
)

APPEND = append_sql("evtsrc_events", notify=False)
"""PostgresBackend's append statement, imported so that the two cannot drift apart."""


async def s1(dsn: str, sizes: Sizes, *, read_every_command: bool = False) -> Measured:
    """Open each account, then 9 deposits, sequentially: evtsrc's round trips, bare.

    On one connection, no pool: the least a client can do per command. With
    `read_every_command` each command first reads the account's events (as evtsrc with
    no aggregate cache does), instead of only a new account's.
    """
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(SCHEMA)
        start = clock()
        for i in range(sizes.s1_accounts):
            account_id = f"acc-{i}"
            rows = await connection.fetch(READ, "accounts", account_id, 0)
            version = len(rows)
            for event_type, data in [("account.opened", {"owner": "o"})] + [
                ("account.deposited", {"amount": 1})
            ] * 9:
                if read_every_command and version:
                    version = len(await connection.fetch(READ, "accounts", account_id, 0))
                row = await connection.fetchrow(
                    APPEND,
                    "accounts",
                    account_id,
                    version,
                    [event_type],
                    [json.dumps(data, separators=(",", ":"))],
                    [datetime.now(UTC)],
                )
                assert row is not None and row[0] is not None, "version conflict"
                version += 1
        return Measured(sizes.s1_accounts * 10, clock() - start)
    finally:
        await connection.close()


async def run(
    backend: str, target: str, scenario: str, sizes: Sizes, *, read_every_command: bool = False
) -> Measured:
    """Only S1 on PostgreSQL has a raw baseline."""
    if backend != "postgres" or scenario != "S1":
        raise ValueError(f"raw-asyncpg runs S1 on postgres only, not {scenario} on {backend}")
    return await s1(target, sizes, read_every_command=read_every_command)
