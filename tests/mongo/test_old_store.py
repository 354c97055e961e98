"""A MongoDB store written before events kept ids and metadata reads as it did, and grows."""

from __future__ import annotations

from typing import Any

import pytest

from evtsrc.backends import NewEvent
from evtsrc.backends.mongo import MongoBackend
from tests.backends import MONGO
from tests.conformance.conftest import backend as backend
from tests.legacy_store import OLD_EVENTS, OLD_TOP, STAMP, check_old_store


@pytest.fixture(params=[MONGO], ids=lambda t: t.name)
def target(request: pytest.FixtureRequest) -> Any:
    return request.param


async def test_events_stored_before_ids_and_metadata_read_back_without_them(
    backend: MongoBackend,
) -> None:
    # Each document exactly as MongoBackend of afe64e4 inserted it (see tests/legacy_store).
    await backend.events.insert_many(
        [
            {
                "stream": s,
                "aggregate_id": a,
                "version": v,
                "position": p,
                "timestamp": STAMP,
                "type": t,
                "data": d,
            }
            for s, a, v, p, t, d in OLD_EVENTS
        ]
    )
    await backend.counters.insert_one({"_id": backend.names.events, "position": OLD_TOP})
    await check_old_store(backend)


async def test_new_documents_hold_the_id_event_version_and_metadata(
    backend: MongoBackend,
) -> None:
    await backend.append(
        "s", "a", 0, [NewEvent("x", {"n": 1}, STAMP, event_id="e-1", metadata={"k": [1]})]
    )
    stored = await backend.events.find_one({}, {"_id": 0})
    assert stored == {
        "stream": "s",
        "aggregate_id": "a",
        "version": 1,
        "position": 1,
        "timestamp": STAMP,
        "type": "x",
        "data": {"n": 1},
        "event_id": "e-1",
        "event_version": 1,
        "metadata": {"k": [1]},
    }
