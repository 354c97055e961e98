"""On Neo4j too, a killed runner's standby in another process takes its handler over."""

from __future__ import annotations

import functools
import uuid
from pathlib import Path
from typing import Any

import pytest

from evtsrc.backends.neo4j import Neo4jBackend
from tests.backends import NEO4J, NEO4J44, BackendTarget, server_location
from tests.conformance.conftest import backend as backend
from tests.group_processes import churn, noted_until
from tests.lease_processes import (
    check_expiry,
    check_names_worker,
    freeze_and_fence,
    hand_over,
    report_holder,
)
from tests.lease_worker import LEASE_TTL


@pytest.fixture(params=[NEO4J, NEO4J44], ids=lambda t: t.name)
def target(request: pytest.FixtureRequest) -> Any:
    return request.param


async def test_killing_the_active_process_hands_the_handler_over(
    backend: Neo4jBackend, target: BackendTarget, tmp_path: Path
) -> None:
    assert target.env is not None
    location = server_location(target.env, target.name)
    took_over = await hand_over(backend, target.name, location, backend.names.prefix, tmp_path)
    # Nothing frees a dead runner's lease node: it runs out within its time to live.
    assert took_over < LEASE_TTL + 3, f"the standby took {took_over:.1f} s to take over"


async def test_a_frozen_holder_cannot_move_the_bookmark_back(
    backend: Neo4jBackend, target: BackendTarget, tmp_path: Path
) -> None:
    assert target.env is not None
    location = server_location(target.env, target.name)
    await freeze_and_fence(backend, target.name, location, backend.names.prefix, tmp_path)


async def test_a_lease_is_held_by_one_holder_until_it_is_freed_or_runs_out(
    backend: Neo4jBackend,
) -> None:
    await check_expiry(Neo4jBackend(backend.driver, labels=backend.names, lease_ttl=1.0))


async def test_create_schema_adds_the_lease_constraint_to_a_store_made_before_it(
    backend: Neo4jBackend,
) -> None:
    name = f"{backend.names.prefix}lease_uq"
    await backend.driver.execute_query(f"DROP CONSTRAINT `{name}` IF EXISTS")  # as made before
    assert name not in await _constraints(backend)
    await backend.create_schema()
    assert name in await _constraints(backend)


async def _constraints(backend: Neo4jBackend) -> set[str]:
    records, _, _ = await backend.driver.execute_query("SHOW CONSTRAINTS YIELD name")
    return {record["name"] for record in records}


async def test_a_partitioned_group_of_processes_handles_every_event_in_order(
    backend: Neo4jBackend, target: BackendTarget, tmp_path: Path
) -> None:
    assert target.env is not None
    location = server_location(target.env, target.name)
    churned = await churn(
        backend,
        target.name,
        location,
        backend.names.prefix,
        tmp_path,
        aggregates=100,
        rounds=5,
        per=4,
        buckets=8,
        handled=functools.partial(noted_until, tmp_path / "group.txt"),
        lease_ttl=LEASE_TTL,
    )
    assert len(set(churned.pairs)) == 2_000


async def test_the_lease_of_another_process_is_reported_with_its_holder(
    backend: Neo4jBackend, target: BackendTarget, tmp_path: Path
) -> None:
    assert target.env is not None
    location = server_location(target.env, target.name)
    prefix = backend.names.prefix
    holder, pid = await report_holder(backend, target.name, location, prefix, tmp_path)
    check_names_worker(holder, pid)


async def test_a_holder_written_before_holders_named_their_process_is_reported_as_it_is(
    backend: Neo4jBackend,
) -> None:
    bare = str(uuid.uuid4())
    label = backend._lease
    await backend._run(
        f"CREATE (:{label} {{name: 'seen', holder: $holder, "
        "expires: datetime() + duration({seconds: 30})})",
        holder=bare,
    )
    assert await backend.lease_holder("seen") == bare
    assert not await backend.lease("seen").acquire()  # still held: by the old holder
    await backend._run(
        f"MATCH (l:{label} {{name: 'seen'}}) SET l.expires = datetime() - duration({{seconds: 1}})"
    )
    assert await backend.lease_holder("seen") is None  # ran out
    lease = backend.lease("seen")
    assert await lease.acquire()
    await lease.release()
