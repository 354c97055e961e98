"""Neo4j lists streams and a page of aggregates from its indexes, not from every event.

Cypher has no recursive lookups: a stream costs one seek in the (stream, position)
index, and a page of aggregate ids reads the version index in order from the first id
after the page's start, stopping at the page's end. Without the index named and the
order given as the index's, the planner scans the position index and sorts every event.
"""

from __future__ import annotations

from typing import Any

import pytest

from evtsrc.backends.neo4j import Neo4jBackend, _cypher
from tests.backends import NEO4J, NEO4J44
from tests.conformance.conftest import backend as backend

EVENTS = 20_000
PER_AGGREGATE = 10
"""Each aggregate's events (versions 1 to 10), half of them in each of two streams."""


@pytest.fixture(params=[NEO4J, NEO4J44], ids=lambda t: t.name)
def target(request: pytest.FixtureRequest) -> Any:
    return request.param


async def _fill(backend: Neo4jBackend) -> None:
    """Events of 2000 aggregates, written as the backend writes them, in one statement."""
    await backend._run(
        f"UNWIND range(0, {EVENTS - 1}) AS p CREATE (e:{backend._event} "
        "{position: p + 1, stream: 's' + toString(p / 10 % 2), "
        "aggregate_id: 'id-' + toString(100000 + p / 10), version: p % 10 + 1, "
        "type: 'x', data: '{}', bucket_key: 0})"
    )
    # Plan with the statistics of what is stored, as a live database soon does: a plan
    # made first with those of an empty label (Neo4j 4.4 scans the index then) is kept
    # until Neo4j replans it, seconds later.
    await backend._run("CALL db.prepareForReplanning()")


async def _profile(backend: Neo4jBackend, query: str, **parameters: Any) -> tuple[list[Any], int]:
    """What `query` returns, and the rows its plan's index reads produced in all."""
    async with backend.driver.session(database=backend.database) as session:
        result = await session.run(_cypher("PROFILE " + query), parameters)
        rows = [record.data() async for record in result]
        summary = await result.consume()
    assert summary.profile is not None
    return rows, _index_rows(summary.profile)


def _index_rows(plan: dict[str, Any]) -> int:
    own = plan.get("rows", 0) if "Index" in plan["operatorType"] else 0
    scans = "Scan" in plan["operatorType"] and "Index" not in plan["operatorType"]
    assert not scans, f"{plan['operatorType']} reads every node"
    return int(own) + sum(_index_rows(child) for child in plan.get("children", []))


async def test_a_stream_costs_one_seek(backend: Neo4jBackend) -> None:
    await _fill(backend)
    for start, expected in (("", "s0"), ("s0\x00", "s1"), ("s1\x00", None)):
        rows, read = await _profile(backend, backend._first_stream_query(), start=start)
        assert [row["stream"] for row in rows] == ([expected] if expected else [])
        assert read <= 1, (start, read)
    assert await backend.streams() == ["s0", "s1"]


@pytest.mark.parametrize("after", ["", "id-100500", "id-101900"])
async def test_a_page_of_aggregates_reads_the_events_of_that_page_only(
    backend: Neo4jBackend, after: str
) -> None:
    await _fill(backend)
    limit = 10
    rows, read = await _profile(
        backend, backend._aggregates_query(), stream="s1", after=after, limit=limit
    )
    ids = [row["id"] for row in rows]
    assert ids == await backend.aggregate_ids("s1", after=after, limit=limit)
    assert len(ids) == limit and ids == sorted(ids) and ids[0] > after
    # Each listed aggregate's events, and the next one's first.
    assert read <= limit * PER_AGGREGATE + 1, (after, read)
