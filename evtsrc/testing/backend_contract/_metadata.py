"""Event ids, event versions and metadata: stored with each event and read back unchanged."""

from __future__ import annotations

from datetime import UTC, datetime

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
        for version in (0, 4, 8):
            await backend.append("s", "a", version, [NewEvent("x", {}, now) for _ in range(4)])
        ids = [r.event_id for r in await backend.read_streams(["s"])]
        assert len(set(ids)) == len(ids) == 12
