"""A Neo4j store written before events kept ids, metadata and bucket keys reads as it did."""

from __future__ import annotations

from typing import Any

import pytest

from evtsrc.backends import NewEvent, bucket_key
from evtsrc.backends import neo4j as neo4j_backend
from evtsrc.backends.neo4j import Neo4jBackend
from tests.backends import NEO4J, NEO4J44
from tests.conformance.conftest import backend as backend
from tests.legacy_store import (
    OLD_EVENTS,
    OLD_TOP,
    STAMP,
    check_buckets,
    check_old_store,
    check_processed_upgrade,
)


@pytest.fixture(params=[NEO4J, NEO4J44], ids=lambda t: t.name)
def target(request: pytest.FixtureRequest) -> Any:
    return request.param


async def test_events_stored_before_ids_and_metadata_read_back_without_them(
    backend: Neo4jBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each node exactly as Neo4jBackend of afe64e4 created it (see tests/legacy_store).
    names = backend.names
    rows = [
        {
            "stream": s,
            "aggregate_id": a,
            "version": v,
            "position": p,
            "timestamp": STAMP,
            "type": t,
            "data": text,
        }
        for (s, a, v, p, t, _), text in zip(
            OLD_EVENTS,
            ["{}", '{"street":"1st","city":"Springfield"}', "{}", "{}", "{}"],
            strict=True,
        )
    ]
    await backend.driver.execute_query(
        f"UNWIND $rows AS row CREATE (e:`{names.events}`) SET e = row", {"rows": rows}
    )
    await backend.driver.execute_query(
        f"CREATE (:`{names.prefix}counter` {{name: $name, position: $top}})",
        {"name": names.events, "top": OLD_TOP},
    )
    monkeypatch.setattr(neo4j_backend, "FILL_BATCH", 2)  # create_schema fills in batches
    await check_old_store(backend)
    records, _, _ = await backend.driver.execute_query(
        f"MATCH (e:`{names.events}`) RETURN e.aggregate_id AS id, e.bucket_key AS key"
    )
    assert {(r["id"], r["key"]) for r in records} == {
        (a, bucket_key(a)) for a in ("a", "b", "c", "x")
    }

    # Nodes an older evtsrc creates after the upgrade have no key: bucket reads keep them.
    await backend.driver.execute_query(
        f"MATCH (e:`{names.events}` {{aggregate_id: 'b'}}) REMOVE e.bucket_key"
    )
    everything = await backend.read_streams(["counters", "ledgers"])
    await check_buckets(backend, everything)


async def test_a_store_from_before_inboxes_gets_their_uniqueness_constraint(
    backend: Neo4jBackend,
) -> None:
    names = backend.names
    constraint = f"{names.processed}_uq"
    show = "SHOW CONSTRAINTS YIELD name, labelsOrTypes, properties"
    await backend.driver.execute_query(f"DROP CONSTRAINT `{constraint}`")  # the layout before
    records, _, _ = await backend.driver.execute_query(show)
    assert constraint not in [r["name"] for r in records]
    await check_processed_upgrade(backend)
    records, _, _ = await backend.driver.execute_query(show)
    [found] = [r for r in records if r["name"] == constraint]
    assert (found["labelsOrTypes"], found["properties"]) == ([names.processed], ["inbox", "key"])
    records, _, _ = await backend.driver.execute_query(
        f"MATCH (p:`{names.processed}`) RETURN p.inbox AS inbox, p.key AS key, "
        "p.processed_at IS NOT NULL AS stamped ORDER BY key"
    )
    assert [(r["inbox"], r["key"], r["stamped"]) for r in records] == [
        ("inbox", "m#0", True),
        ("inbox", "m#1", True),
    ]


async def test_new_nodes_hold_the_id_event_version_and_metadata_text(
    backend: Neo4jBackend,
) -> None:
    [appended] = await backend.append(
        "s", "a", 0, [NewEvent("x", {"n": 1}, STAMP, event_id="e-1", metadata={"k": [1]})]
    )
    records, _, _ = await backend.driver.execute_query(
        f"MATCH (e:`{backend.names.events}`) RETURN properties(e) AS p"
    )
    stored = records[0]["p"]
    stored["timestamp"] = stored["timestamp"].to_native()
    assert stored == {
        "stream": "s",
        "aggregate_id": "a",
        "version": 1,
        "position": 1,
        "timestamp": STAMP,
        "type": "x",
        "data": '{"n":1}',
        "event_id": "e-1",
        "event_version": 1,
        "metadata": '{"k":[1]}',
        "bucket_key": bucket_key("a"),
    }
    assert appended.metadata == '{"k":[1]}'
