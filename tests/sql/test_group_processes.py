"""Partitioned groups of real processes on SQL stores: 20,000 events while workers churn."""

from __future__ import annotations

import asyncio
from pathlib import Path

from evtsrc.backends import Backend
from tests.backends import BackendTarget
from tests.group_processes import churn

from .test_lease_processes import backend_location
from .test_read_models import _sql

AGGREGATES = 500
ROUNDS = 5
PER = 8  # 500 aggregates x 5 rounds x 8 events: 20,000 events


async def test_workers_joining_leaving_and_killed_handle_every_event_once_in_order(
    sql_backend: Backend, target: BackendTarget, tmp_path: Path
) -> None:
    prefix = sql_backend.names.prefix  # type: ignore[attr-defined]
    table = f"{prefix}tally"
    await _sql(
        sql_backend,
        f"CREATE TABLE {table} (aggregate_id VARCHAR(50), version INTEGER, position BIGINT, "
        "pid INTEGER, PRIMARY KEY (aggregate_id, version))",
    )

    async def handled(total: int) -> list[tuple[str, int]]:
        deadline = asyncio.get_running_loop().time() + 180
        while True:
            rows = await _sql(sql_backend, f"SELECT aggregate_id, version FROM {table}")
            if len(rows) >= total or asyncio.get_running_loop().time() > deadline:
                return [(row[0], row[1]) for row in rows]
            await asyncio.sleep(0.25)

    churned = await churn(
        sql_backend,
        target.name,
        backend_location(sql_backend, target),
        prefix,
        tmp_path,
        aggregates=AGGREGATES,
        rounds=ROUNDS,
        per=PER,
        buckets=12,
        handled=handled,
    )
    # Exactly once: the primary key refuses a second row, and every event has its row.
    assert len(churned.pairs) == AGGREGATES * ROUNDS * PER
