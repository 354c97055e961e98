"""Every hot MongoDB query is served by an index, on a store of realistic size."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from evtsrc.backends import NewEvent
from evtsrc.backends.mongo import MongoBackend
from tests.backends import MONGO_ENV, TARGETS
from tests.conformance.conftest import backend as backend

MONGO = [t for t in TARGETS if t.env == MONGO_ENV]


@pytest.fixture(params=MONGO, ids=lambda t: t.name)
def target(request: pytest.FixtureRequest) -> Any:
    return request.param


@pytest.fixture
async def filled(backend: MongoBackend) -> MongoBackend:
    now = datetime.now(UTC)
    for n in range(40):
        for stream in ("orders", "users"):
            await backend.append(
                stream, f"a{n % 8}", n // 8 * 5, [NewEvent("x", {"n": n}, now)] * 5
            )
    return backend


def _stages(plan: dict[str, Any]) -> list[tuple[str, str | None]]:
    found = [(plan.get("stage", "?"), plan.get("indexName"))]
    for child in [plan.get("inputStage"), *plan.get("inputStages", [])]:
        if child:
            found.extend(_stages(child))
    return found


async def test_hot_queries_scan_indexes_not_the_collection(filled: MongoBackend) -> None:
    plans = await filled.query_plans("orders", "a3")
    names = filled.names
    expected = {
        "read_aggregate": names.version_constraint,
        "read_streams": f"{names.events}_stream_ix",
        "read_bucket": f"{names.events}_stream_ix",  # the bucket filtered as it is read
        "get_bookmark": "_id_",
        "get_snapshot": "_id_",
        "parked": f"{names.parked}_handler_ix",
        "beat": f"{names.members}_group_ix",
        "processed": f"{names.processed}_uq",
        "list_streams": f"{names.events}_stream_ix",
        "list_aggregates": names.version_constraint,
    }
    for name, index in expected.items():
        stages = _stages(plans[name]["queryPlanner"]["winningPlan"])
        print(name, stages, plans[name].get("executionStats", {}).get("totalDocsExamined"))
        assert "COLLSCAN" not in [stage for stage, _ in stages], (name, stages)
        scans = [i for stage, i in stages if stage in ("IXSCAN", "IDHACK", "EXPRESS_IXSCAN")]
        assert scans and (index in scans or "IDHACK" in [s for s, _ in stages]), (name, stages)
    for name in ("read_aggregate", "read_streams"):
        stats = plans[name].get("executionStats", {})
        returned, examined = stats.get("nReturned"), stats.get("totalDocsExamined")
        if examined is not None:
            assert examined == returned, (name, stats)
    # A page of aggregate ids seeks from each aggregate's first event to the next one's:
    # a key or two each, not each of the 25 events of the 8 aggregates.
    stats = plans["list_aggregates"].get("executionStats", {})
    if stats.get("totalKeysExamined") is not None:
        assert stats["nReturned"] == 8, stats
        assert stats["totalKeysExamined"] <= 2 * 8 + 1, stats
