"""Event ids, event versions and metadata: stored with each event and read back unchanged."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from evtsrc._jsontypes import JSONObject
from evtsrc._meta import meta_of
from evtsrc.backends import Backend, EventRecord, NewEvent
from evtsrc.backends.base import new_event_id

from ._base import ContractBase

METADATA: JSONObject = {
    "correlation_id": "req-7",
    "causation_id": "6f0c1a44-3a52-4a8e-9d0c-0d6b7a1c2e11",
    "user": "Zoë ✓",
    "roles": ["admin", "ops"],
    "request": {"ip": "10.0.0.1", "attempt": 2, "trace": None, "sampled": True, "load": 0.25},
}


def _described(record: EventRecord) -> tuple[object, ...]:
    meta = meta_of(record)
    return (
        meta.version,
        meta.event_id,
        meta.event_version,
        meta.correlation_id,
        meta.causation_id,
        meta.metadata,
    )


class MetadataContract(ContractBase):
    """Each event keeps its id, its event version and its metadata object."""

    async def test_ids_versions_and_metadata_read_back_as_appended(self, backend: Backend) -> None:
        now = datetime.now(UTC)
        first, second = new_event_id(), new_event_id()
        appended = await backend.append(
            "s",
            "a",
            0,
            [
                NewEvent("x", {"n": 1}, now, event_id=first, event_version=3, metadata=METADATA),
                NewEvent("y", {"n": 2}, now, event_id=second),
            ],
        )
        user = {k: v for k, v in METADATA.items() if not k.endswith("_id")}
        expected: list[tuple[object, ...]] = [
            (1, first, 3, "req-7", METADATA["causation_id"], user),
            (2, second, 1, second, None, {}),
        ]
        assert [_described(r) for r in appended] == expected
        assert [_described(r) for r in await backend.read_aggregate("s", "a")] == expected
        assert [_described(r) for r in await backend.read_streams(["s"])] == expected
        assert list(await backend.read_aggregate("s", "a")) == list(appended)

    async def test_an_event_appended_without_them_gets_an_id_and_no_metadata(
        self, backend: Backend
    ) -> None:
        [record] = await backend.append("s", "a", 0, [NewEvent("x", {}, datetime.now(UTC))])
        [read] = await backend.read_aggregate("s", "a")
        assert read.event_id == record.event_id
        assert read.event_id is not None and len(read.event_id) == 36
        assert (meta_of(read).metadata, read.event_version) == ({}, 1)

    async def test_every_event_keeps_its_own_id(self, backend: Backend) -> None:
        now = datetime.now(UTC)
        for version in range(3):
            await backend.append("s", "a", version * 4, [NewEvent("x", {}, now) for _ in range(4)])
        ids = [r.event_id for r in await backend.read_streams(["s"])]
        assert len(set(ids)) == len(ids) == 12

    async def test_streams_read_without_metadata_keep_everything_else(
        self, backend: Backend
    ) -> None:
        now = datetime.now(UTC)
        one = NewEvent("x", {"n": 1}, now, event_version=2, metadata=METADATA)
        await backend.append("s1", "a", 0, [one, NewEvent("y", {"n": 2}, now)])
        await backend.append("s2", "b", 0, [NewEvent("z", {"n": 3}, now, metadata={"u": 1})])
        await backend.append("s1", "a", 2, [NewEvent("x", {"n": 4}, now)])
        whole = list(await backend.read_streams(["s1", "s2"]))
        for limit in (1, 3, 10):
            lean: list[EventRecord] = []
            while page := await backend.read_streams(
                ["s2", "s1"], after_position=lean[-1].position if lean else 0, limit=limit,
                metadata=False,
            ):  # fmt: skip
                assert len(page) <= limit
                lean += page
            # A backend may leave the id and metadata out, or read them anyway.
            assert [_without_metadata(r) for r in lean] == [_without_metadata(r) for r in whole]
            for record, full in zip(lean, whole, strict=True):
                assert record.event_id in (None, full.event_id)
                assert record.metadata in (None, full.metadata)
        assert [r.event_version for r in whole] == [2, 1, 1, 1]


def _without_metadata(record: EventRecord) -> EventRecord:
    return msgspec.structs.replace(record, event_id=None, metadata=None)
