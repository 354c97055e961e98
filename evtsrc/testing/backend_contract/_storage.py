"""The backend's own methods: appends, paging, ordering, positions, listeners."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from evtsrc.backends import NOT_READ, Backend, EventRecord, NewEvent

from ._base import ContractBase


def _events(*types: str) -> list[NewEvent]:
    now = datetime.now(UTC)
    return [NewEvent(t, {"n": i}, now) for i, t in enumerate(types)]


class StorageContract(ContractBase):
    """Appends, reads, positions and listeners, through the backend's own methods."""

    async def test_an_empty_append_stores_nothing(self, backend: Backend) -> None:
        assert list(await backend.append("s", "a", 0, [])) == []
        assert await backend.read_aggregate("s", "a") == []
        assert await backend.last_position(["s"]) == 0

    async def test_append_returns_the_records_as_stored(self, backend: Backend) -> None:
        records = await backend.append("s", "a", 0, _events("x", "y"))
        assert [(r.stream, r.aggregate_id, r.version, r.type, r.data) for r in records] == [
            ("s", "a", 1, "x", {"n": 0}),
            ("s", "a", 2, "y", {"n": 1}),
        ]
        assert records[0].position < records[1].position
        assert list(await backend.read_aggregate("s", "a")) == list(records)

    async def test_read_aggregate_pages_by_version(self, backend: Backend) -> None:
        await backend.append("s", "a", 0, _events(*"abcdefg"))
        await backend.append("s", "b", 0, _events("z"))
        page = await backend.read_aggregate("s", "a", after_version=2, limit=3)
        assert [r.version for r in page] == [3, 4, 5]
        assert [r.type for r in page] == ["c", "d", "e"]
        assert await backend.read_aggregate("s", "a", after_version=7) == []

    async def test_a_read_without_meta_has_all_a_fold_needs(self, backend: Backend) -> None:
        now = datetime.now(UTC)
        await backend.append(
            "s",
            "a",
            0,
            [
                NewEvent("x", {"n": 1}, now, event_version=2, metadata={"k": "v"}),
                *_events("y", "z"),
            ],
        )
        await backend.append("s", "b", 0, _events("other"))
        full = await backend.read_aggregate("s", "a")
        bare = [
            *await backend.read_aggregate("s", "a", limit=2, meta=False),
            *await backend.read_aggregate("s", "a", after_version=2, meta=False),
        ]

        def folded(r: EventRecord) -> tuple[object, ...]:
            return (r.stream, r.aggregate_id, r.version, r.position, r.type, r.data)

        assert [folded(r) for r in bare] == [folded(r) for r in full]
        assert [r.event_version for r in bare] == [2, 1, 1]
        for left, kept in zip(bare, full, strict=True):  # left out, or as a full read has them
            assert (left.timestamp, left.event_id, left.metadata) in (
                (NOT_READ, None, None),
                (kept.timestamp, kept.event_id, kept.metadata),
            )

    async def test_read_streams_interleaves_streams_by_position(self, backend: Backend) -> None:
        await backend.append("s1", "a", 0, _events("a1"))
        await backend.append("s2", "b", 0, _events("b1", "b2"))
        await backend.append("s3", "c", 0, _events("c1"))
        await backend.append("s1", "a", 1, _events("a2"))
        both = await backend.read_streams(["s1", "s2"])
        assert [r.type for r in both] == ["a1", "b1", "b2", "a2"]
        positions = [r.position for r in both]
        assert positions == sorted(positions) and len(set(positions)) == 4
        paged: list[EventRecord] = []
        after = 0
        while page := await backend.read_streams(["s2", "s1"], after_position=after, limit=1):
            paged.extend(page)
            after = page[-1].position
        assert paged == list(both)
        assert list(await backend.read_streams(["s1", "s2", "s1"], limit=3)) == list(both)[:3]
        assert [
            r.type for r in await backend.read_streams(["s1"], after_position=positions[0])
        ] == ["a2"]
        assert await backend.read_streams(["nothing"]) == []

    async def test_last_position_is_per_set_of_streams(self, backend: Backend) -> None:
        first = await backend.append("s1", "a", 0, _events("a1"))
        second = await backend.append("s2", "b", 0, _events("b1"))
        assert await backend.last_position(["s1"]) == first[0].position
        assert await backend.last_position(["s1", "s2"]) == second[0].position
        assert await backend.last_position(["s3"]) == 0

    async def test_a_listener_wakes_or_times_out(self, backend: Backend) -> None:
        listener = await backend.listen(["s1"])
        try:
            started = asyncio.get_running_loop().time()
            await listener.wait(0.05)
            assert asyncio.get_running_loop().time() - started >= 0.04
            await backend.append("s1", "a", 0, _events("a1"))
            await listener.wait(0.5)  # push backends return at once, polling ones after 0.5 s
            assert [r.type for r in await backend.read_streams(["s1"])] == ["a1"]
        finally:
            await listener.close()
