"""A MongoDB store written before events kept ids, metadata and bucket keys reads as it did."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from evtsrc.backends import NewEvent, bucket_key
from evtsrc.backends.mongo import MongoBackend
from evtsrc.backends.mongo import _backend as mongo_backend
from tests.backends import MONGO
from tests.conformance.conftest import backend as backend
from tests.legacy_store import (
    OLD_EVENTS,
    OLD_TOP,
    STAMP,
    check_buckets,
    check_old_store,
    check_processed_upgrade,
)


@pytest.fixture(params=[MONGO], ids=lambda t: t.name)
def target(request: pytest.FixtureRequest) -> Any:
    return request.param


async def test_events_stored_before_ids_and_metadata_read_back_without_them(
    backend: MongoBackend, monkeypatch: pytest.MonkeyPatch
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
    monkeypatch.setattr(mongo_backend, "FILL_BATCH", 2)  # create_schema fills in batches
    await check_old_store(backend)
    stored = await backend.events.find({}, {"_id": 0}).sort("position", 1).to_list(None)
    assert [d["bucket_key"] for d in stored] == [bucket_key(d["aggregate_id"]) for d in stored]

    # Documents an older evtsrc inserts after the upgrade have no key: bucket reads keep them.
    await backend.events.update_many({"aggregate_id": "b"}, {"$unset": {"bucket_key": ""}})
    everything = await backend.read_streams(["counters", "ledgers"])
    await check_buckets(backend, everything)


async def test_a_store_from_before_inboxes_gets_their_collection_and_index(
    backend: MongoBackend,
) -> None:
    names = backend.names
    await backend.processed_messages.drop()  # the layout before ProcessedMessages
    assert names.processed not in await backend.database.list_collection_names()
    await check_processed_upgrade(backend)
    index = (await backend.processed_messages.index_information())[f"{names.processed}_uq"]
    assert (index["key"], index["unique"]) == ([("inbox", 1), ("key", 1)], True)
    stored = await backend.processed_messages.find({}, {"_id": 0}).to_list(None)
    assert [(d["inbox"], d["key"]) for d in stored] == [("inbox", "m#0"), ("inbox", "m#1")]
    assert all(isinstance(d["processed_at"], datetime) for d in stored)


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
        "bucket_key": bucket_key("a"),
    }
