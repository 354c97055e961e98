"""Neo4jBackend on each Neo4j the tests have: 5 and 4.4.

The conformance suite runs on both (tests/conformance); these tests check what is
particular to Neo4j: which server versions it accepts, that positions are 64-bit
integers all the way, and that dropping a store removes all of it, however large.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from evtsrc import StoreUnavailable, UnsupportedStore
from evtsrc.backends import NewEvent
from evtsrc.backends.neo4j import DELETE_BATCH, Neo4jBackend, supported_version
from tests.backends import NEO4J, NEO4J44, BackendTarget
from tests.conformance.conftest import backend as backend


@pytest.mark.parametrize(
    ("agent", "version"),
    [
        ("Neo4j/4.4.44", (4, 4)),
        ("Neo4j/5.26.30", (5, 26)),
        ("Neo4j/5.27-aura", (5, 27)),
        ("Neo4j/2025.10.1", (2025, 10)),
    ],
)
def test_servers_from_4_4_on_are_supported(agent: str, version: tuple[int, int]) -> None:
    assert supported_version(agent) == version


@pytest.mark.parametrize(
    ("agent", "message"),
    [
        ("Neo4j/4.3.23", "needs Neo4j 4.4 or later; the server is 'Neo4j/4.3.23'"),
        ("Neo4j/3.5.35", "needs Neo4j 4.4 or later; the server is 'Neo4j/3.5.35'"),
        ("Memgraph/2.19.0", "needs a Neo4j server; the server calls itself 'Memgraph/2.19.0'"),
    ],
)
def test_older_servers_and_other_products_are_refused(agent: str, message: str) -> None:
    with pytest.raises(UnsupportedStore, match=message):
        supported_version(agent)


@pytest.fixture(params=[NEO4J, NEO4J44], ids=lambda t: t.name)
def target(request: pytest.FixtureRequest) -> Any:
    return request.param


async def _components(backend: Neo4jBackend) -> tuple[int, int]:
    records, _, _ = await backend.driver.execute_query(
        "CALL dbms.components() YIELD name, versions WHERE name = 'Neo4j Kernel' RETURN versions"
    )
    major, minor = records[0]["versions"][0].split(".")[:2]
    return int(major), int(minor)


async def test_the_backend_reads_the_version_the_server_reports(
    backend: Neo4jBackend, target: BackendTarget
) -> None:
    version = await backend.server_version()
    assert version == await _components(backend)
    # The targets are what they say: CI really runs the suite on a 4.4 and on a 5.
    assert version == (4, 4) if target is NEO4J44 else version >= (5, 0)


async def test_dropping_a_store_removes_every_node_constraint_and_index(
    backend: Neo4jBackend,
) -> None:
    names = backend.names
    rows = [
        {"stream": "s", "aggregate_id": f"a{n}", "version": 1, "position": n + 1,
         "timestamp": datetime.now(UTC), "type": "x", "data": "{}"}
        for n in range(DELETE_BATCH + 1)
    ]  # fmt: skip
    await backend.driver.execute_query(
        f"UNWIND $rows AS row CREATE (e:`{names.events}`) SET e = row", {"rows": rows}
    )
    await backend.set_bookmark("h", 3)

    await backend.drop_schema()

    labels = {names.events, names.snapshots, names.bookmarks, f"{names.prefix}counter"}
    left, _, _ = await backend.driver.execute_query(
        "MATCH (x) WHERE any(label IN labels(x) WHERE label IN $labels) RETURN count(x) AS n",
        {"labels": sorted(labels)},
    )
    assert left[0]["n"] == 0
    for show in (
        "SHOW CONSTRAINTS YIELD name, labelsOrTypes",
        "SHOW INDEXES YIELD name, labelsOrTypes",
    ):
        found, _, _ = await backend.driver.execute_query(show)
        assert not [r["name"] for r in found if set(r["labelsOrTypes"] or ()) & labels], show
    await backend.create_schema()  # for the fixture's own drop


async def test_positions_past_2_to_the_53_stay_exact_and_in_order(backend: Neo4jBackend) -> None:
    start = 2**53 + 1  # past a double's integers: a float anywhere on the way would round
    names = backend.names
    await backend.driver.execute_query(
        f"CREATE (:`{names.prefix}counter` {{name: $name, position: $start}})",
        {"name": names.events, "start": start},
    )
    now = datetime.now(UTC)
    await backend.append("s", "a", 0, [NewEvent("x", {"n": 1}, now), NewEvent("x", {"n": 2}, now)])
    await backend.append("s", "b", 0, [NewEvent("x", {"n": 3}, now)])

    read = await backend.read_streams(["s"], after_position=start + 1)
    assert [(r.aggregate_id, r.position) for r in read] == [("a", start + 2), ("b", start + 3)]
    assert await backend.last_position(["s"]) == start + 3


async def test_a_transaction_the_server_ended_past_its_time_is_an_outage(
    backend: Neo4jBackend,
) -> None:
    # Leases and bookmark moves hold their transactions on the server for a short time
    # only. One the server ends past it (it is slow, stopping) is the store being
    # unavailable, which the runner waits out, not a failure of the handler. Here the
    # statement waits for a lock another transaction holds, until the server ends it.
    await backend._run("CREATE (:EvtsrcTimeoutProbe {key: 1})")
    async with backend.driver.session(database=backend.database) as session:
        holder = await session.begin_transaction()
        await holder.run("MATCH (n:EvtsrcTimeoutProbe) SET n.held = true")
        try:
            with pytest.raises(StoreUnavailable, match="Neo4j"):
                await backend._run("MATCH (n:EvtsrcTimeoutProbe) SET n.other = 1", held_for=0.2)
        finally:
            await holder.rollback()
    await backend._run("MATCH (n:EvtsrcTimeoutProbe) DELETE n")
    assert await backend.get_bookmark("still-there") == 0  # and the store answers after it


async def test_an_append_the_server_terminated_is_an_outage_that_wrote_nothing(
    backend: Neo4jBackend,
) -> None:
    # A stopping Neo4j 4.4 terminates the transactions it is running, as an
    # administrator's TERMINATE TRANSACTIONS does: the driver calls that a client error
    # and does not retry it. Nothing of the transaction was committed, so the append
    # is the store being unavailable, to be tried again, not a failure of the command.
    # Here the append is large enough to be terminated while it creates its events.
    now = datetime.now(UTC)
    events = [NewEvent("x", {"n": n}, now) for n in range(50_000)]
    append = asyncio.create_task(backend.append("s", "a", 0, events))
    running = await _transaction_running(backend, "UNWIND $rows")
    await backend.driver.execute_query(
        "TERMINATE TRANSACTIONS $ids", {"ids": [running]}, database_=backend.database
    )
    with pytest.raises(StoreUnavailable, match="Neo4j") as raised:
        await asyncio.wait_for(append, 30)
    assert not raised.value.outcome_unknown
    assert await backend.read_aggregate("s", "a") == []
    written = await backend.append("s", "a", 0, events[:1])
    assert [r.version for r in written] == [1]  # and the store answers after it


async def _transaction_running(backend: Neo4jBackend, statement: str) -> str:
    """The id of the one transaction running `statement`, once the server lists it."""
    for _ in range(100):
        found, _, _ = await backend.driver.execute_query(
            "SHOW TRANSACTIONS YIELD transactionId, currentQuery "
            "WHERE currentQuery CONTAINS $statement RETURN transactionId",
            {"statement": statement},
            database_=backend.database,
        )
        if found:
            return str(found[0]["transactionId"])
        await asyncio.sleep(0.05)
    raise AssertionError(f"no transaction ran {statement!r} within 5 s")
