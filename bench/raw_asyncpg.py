"""S1 on bare asyncpg: the round trips evtsrc makes, with nothing around them.

The driver's own limit for evtsrc's design, measured in the same run: a new
account is read once (one SELECT of its events, none yet), then every command is
the one statement evtsrc's PostgresBackend sends for an append (version check,
insert numbered by the transaction id, NOTIFY), expecting the version this
client remembers. No aggregate, no encoding beyond `json.dumps`, no checks.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import asyncpg

from bench.common import Measured, Sizes, clock

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

APPEND = """
WITH head AS (SELECT coalesce(max(version), 0) AS version FROM evtsrc_events
              WHERE stream = $1 AND aggregate_id = $2),
inserted AS (
    INSERT INTO evtsrc_events (position, stream, aggregate_id, version, type, data, timestamp)
    SELECT (pg_current_xact_id()::text::bigint << 20) | (e.n - 1), $1, $2, $3 + e.n,
           e.type, e.data, e.ts
    FROM head, unnest($4::varchar[], $5::jsonb[], $6::timestamptz[])
         WITH ORDINALITY AS e(type, data, ts, n)
    WHERE head.version = $3
    RETURNING position)
SELECT head.version, (SELECT min(position) FROM inserted),
       (SELECT pg_notify($7, $1) FROM inserted LIMIT 1)::text
FROM head
"""


async def s1(dsn: str, sizes: Sizes) -> Measured:
    """Open each account, then 9 deposits, sequentially: evtsrc's round trips, bare."""
    pool = await asyncpg.create_pool(dsn, min_size=2, max_size=10, reset=_no_reset)
    try:
        await pool.execute(SCHEMA)
        start = clock()
        for i in range(sizes.s1_accounts):
            account_id = f"acc-{i}"
            rows = await pool.fetch(READ, "accounts", account_id, 0)
            version = len(rows)
            for event_type, data in [("account.opened", {"owner": "o"})] + [
                ("account.deposited", {"amount": 1})
            ] * 9:
                row = await pool.fetchrow(
                    APPEND,
                    "accounts",
                    account_id,
                    version,
                    [event_type],
                    [json.dumps(data, separators=(",", ":"))],
                    [datetime.now(UTC)],
                    "evtsrc_events",
                )
                assert row is not None and row[1] is not None, "version conflict"
                version += 1
        return Measured(sizes.s1_accounts * 10, clock() - start)
    finally:
        await pool.close()


async def _no_reset(connection: object) -> None:
    """These statements leave no session state: skip asyncpg's reset, as evtsrc does."""


async def run(backend: str, target: str, scenario: str, sizes: Sizes) -> Measured:
    """Only S1 on PostgreSQL has a raw baseline."""
    if backend != "postgres" or scenario != "S1":
        raise ValueError(f"raw-asyncpg runs S1 on postgres only, not {scenario} on {backend}")
    return await s1(target, sizes)
