"""S1 on bare asyncpg: the round trips evtsrc makes, with nothing around them.

The driver's own limit for evtsrc's design, measured in the same run: a new
account is read once (one SELECT of its events, none yet), then every command is
the one statement evtsrc's PostgresBackend sends for an append (version check,
insert numbered by the transaction id, with the event id and the metadata a command
records and the account's bucket key), expecting the version this client remembers.
No aggregate, no encoding beyond `json.dumps`, no checks, and no NOTIFY afterwards
(evtsrc sends one after a commit, at most one every 2 ms, beside the next statement).
"raw-asyncpg-read" also reads the account before every command: the limit for evtsrc
with no aggregate cache.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import asyncpg

from bench.common import Measured, Sizes, clock
from evtsrc.backends.base import bucket_key, new_event_id
from evtsrc.backends.names import TableNames
from evtsrc.backends.sql._ddl import schema_sql
from evtsrc.backends.sql._pg_positions import append_sql

SCHEMA = schema_sql(TableNames(), "postgresql", if_not_exists=True)
"""PostgresBackend's tables, from the same description, so that the two cannot drift apart."""

READ = (
    "SELECT position, version, type, data, timestamp, event_id::text, event_version, metadata "
    "FROM evtsrc_events WHERE stream = $1 AND aggregate_id = $2 AND version > $3 "
    "ORDER BY version LIMIT 1000"
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
                event_id = new_event_id()
                row = await connection.fetchrow(
                    APPEND,
                    "accounts",
                    account_id,
                    version,
                    [event_type],
                    [json.dumps(data, separators=(",", ":"))],
                    [datetime.now(UTC)],
                    [event_id],
                    [1],
                    [json.dumps({"correlation_id": event_id}, separators=(",", ":"))],
                    bucket_key(account_id),
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
