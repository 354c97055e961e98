"""On MongoDB too, a killed runner's standby in another process takes its handler over."""

from __future__ import annotations

import functools
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from evtsrc.backends.mongo import MongoBackend
from tests.backends import MONGO, server_location
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


@pytest.fixture(params=[MONGO], ids=lambda t: t.name)
def target(request: pytest.FixtureRequest) -> Any:
    return request.param


async def test_killing_the_active_process_hands_the_handler_over(
    backend: MongoBackend, tmp_path: Path
) -> None:
    assert MONGO.env is not None
    location = server_location(MONGO.env, MONGO.name)
    took_over = await hand_over(backend, "mongo", location, backend.names.prefix, tmp_path)
    # Nothing frees a dead runner's lease document: it runs out within its time to live.
    assert took_over < LEASE_TTL + 3, f"the standby took {took_over:.1f} s to take over"


async def test_a_frozen_holder_cannot_move_the_bookmark_back(
    backend: MongoBackend, tmp_path: Path
) -> None:
    assert MONGO.env is not None
    location = server_location(MONGO.env, MONGO.name)
    await freeze_and_fence(backend, "mongo", location, backend.names.prefix, tmp_path)


async def test_a_lease_is_held_by_one_holder_until_it_is_freed_or_runs_out(
    backend: MongoBackend,
) -> None:
    await check_expiry(
        MongoBackend(
            backend.client, backend.database.name, collections=backend.names, lease_ttl=1.0
        )
    )


async def test_a_partitioned_group_of_processes_handles_every_event_in_order(
    backend: MongoBackend, tmp_path: Path
) -> None:
    assert MONGO.env is not None
    location = server_location(MONGO.env, MONGO.name)
    churned = await churn(
        backend,
        "mongo",
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
    backend: MongoBackend, tmp_path: Path
) -> None:
    assert MONGO.env is not None
    location = server_location(MONGO.env, MONGO.name)
    holder, pid = await report_holder(backend, "mongo", location, backend.names.prefix, tmp_path)
    check_names_worker(holder, pid)


async def test_a_holder_written_before_holders_named_their_process_is_reported_as_it_is(
    backend: MongoBackend,
) -> None:
    bare = str(uuid.uuid4())
    expires = datetime.now(UTC) + timedelta(seconds=30)
    await backend.leases.insert_one({"_id": "seen", "holder": bare, "expires": expires})
    assert await backend.lease_holder("seen") == bare
    assert not await backend.lease("seen").acquire()  # still held: by the old holder
    # Its time ran out a second ago: a lease is held up to its expiry's millisecond included.
    ran_out = datetime.now(UTC) - timedelta(seconds=1)
    await backend.leases.update_one({"_id": "seen"}, {"$set": {"expires": ran_out}})
    assert await backend.lease_holder("seen") is None
    lease = backend.lease("seen")
    assert await lease.acquire()
    await lease.release()
