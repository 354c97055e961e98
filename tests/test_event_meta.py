"""`EventMeta`: a read-only view of a stored record that behaves like a value."""

from __future__ import annotations

import copy
import pickle
import uuid
from datetime import UTC, datetime

import msgspec
import pytest

from evtsrc import Domain, EventDecodeError, EventHandler, EventMeta, MetadataNotRead, on_event
from evtsrc._meta import meta_of, meta_without_metadata
from evtsrc.backends import InMemoryBackend
from evtsrc.backends.base import EventRecord, new_event_id

from .conformance.model import Counter, One

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


EVENT = "6f0c1a44-3a52-4a8e-9d0c-0d6b7a1c2e11"


def record(position: int = 7) -> EventRecord:
    return EventRecord("counters", "c-1", 3, position, WHEN, "one", {"n": 1})


def test_a_view_reads_the_fields_of_its_record() -> None:
    meta = meta_of(record())
    assert (meta.stream, meta.aggregate_id, meta.version) == ("counters", "c-1", 3)
    assert (meta.position, meta.timestamp, meta.type_name) == (7, WHEN, "one")


def test_a_view_equals_the_meta_built_from_the_same_fields() -> None:
    built = EventMeta("counters", "c-1", 3, 7, WHEN, "one")
    assert meta_of(record()) == built
    assert hash(meta_of(record())) == hash(built)
    assert meta_of(record(8)) != built
    assert built != ("counters", "c-1", 3, 7, WHEN, "one")
    assert len({meta_of(record()), built, meta_of(record(8))}) == 2


def test_repr_names_every_field() -> None:
    stored = msgspec.structs.replace(record(), event_id=EVENT, metadata={"user": "al"})
    assert repr(meta_of(stored)) == (
        "EventMeta(stream='counters', aggregate_id='c-1', version=3, position=7, "
        f"timestamp={WHEN!r}, type_name='one', event_id='{EVENT}', event_version=1, "
        f"correlation_id='{EVENT}', causation_id=None, metadata={{'user': 'al'}})"
    )


def test_ids_and_metadata_come_from_the_record() -> None:
    stored = msgspec.structs.replace(
        record(),
        event_id=EVENT,
        event_version=3,
        metadata='{"correlation_id": "req-1", "causation_id": "e-0", "user": "al"}',
    )
    meta = meta_of(stored)
    assert (meta.event_id, meta.event_version) == (EVENT, 3)
    assert (meta.correlation_id, meta.causation_id) == ("req-1", "e-0")
    assert meta.metadata == {"user": "al"}
    assert meta == EventMeta(
        "counters", "c-1", 3, 7, WHEN, "one",
        event_id=EVENT, event_version=3, correlation_id="req-1", causation_id="e-0",
        metadata={"user": "al"},
    )  # fmt: skip


def test_an_event_stored_before_ids_gets_a_stable_id_of_its_own() -> None:
    legacy = meta_of(record())  # event_id None, metadata None: as an older store has it
    again = meta_of(record(position=9))
    assert legacy.event_id == again.event_id == str(uuid.UUID(legacy.event_id))
    assert meta_of(msgspec.structs.replace(record(), version=4)).event_id != legacy.event_id
    assert legacy.correlation_id == legacy.event_id
    assert (legacy.causation_id, legacy.metadata, legacy.event_version) == (None, {}, 1)


@pytest.mark.parametrize("text", ["{", "[1]", '"x"'])
def test_unreadable_stored_metadata_is_named(text: str) -> None:
    meta = meta_of(msgspec.structs.replace(record(), metadata=text))
    with pytest.raises(EventDecodeError, match="stored metadata of one") as raised:
        _ = meta.metadata
    assert (raised.value.stream, raised.value.version, raised.value.position) == (
        "counters",
        3,
        7,
    )


@pytest.mark.parametrize("field", ["stream", "aggregate_id", "version", "position", "timestamp"])
def test_fields_are_read_only(field: str) -> None:
    meta = meta_of(record())
    with pytest.raises(AttributeError):
        setattr(meta, field, 1)
    with pytest.raises(AttributeError):
        meta.other = 1  # type: ignore[attr-defined]
    assert meta.position == 7


def test_pickles_and_copies_to_an_equal_meta() -> None:
    meta = meta_of(record())
    assert pickle.loads(pickle.dumps(meta)) == meta
    assert copy.copy(meta) == meta
    assert copy.deepcopy(meta) == meta


async def test_a_handler_gets_the_meta_of_each_stored_event() -> None:
    seen: list[EventMeta] = []

    class Metas(EventHandler, name="metas"):
        @on_event
        def one(self, event: One, meta: EventMeta) -> None:
            seen.append(meta)

    backend = InMemoryBackend()
    domain = Domain(backend, aggregates=[Counter])
    counters = domain.repository(Counter)
    await counters.execute("c", Counter.do_one)
    await counters.execute("c", Counter.do_one)
    await domain.handler(Metas()).run_once()
    stored = await backend.read_streams(("counters",), after_position=0, limit=10)
    assert seen == [meta_of(r) for r in stored]
    assert [m.version for m in seen] == [1, 2]
    assert len({m.event_id for m in seen}) == 2
    assert seen[0].correlation_id != seen[1].correlation_id  # two commands, two requests


def test_new_event_ids_are_distinct_version_4_uuids() -> None:
    ids = [new_event_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    for text in ids[:500]:
        parsed = uuid.UUID(text)
        assert (str(parsed), parsed.version, parsed.variant) == (text, 4, uuid.RFC_4122)


def test_a_view_without_metadata_refuses_it_but_keeps_the_rest() -> None:
    read = msgspec.structs.replace(record(), event_id=EVENT, metadata='{"correlation_id": "r"}')
    meta = meta_without_metadata(read)
    assert isinstance(meta, EventMeta)
    assert (meta.stream, meta.aggregate_id, meta.version, meta.position) == (
        "counters",
        "c-1",
        3,
        7,
    )
    assert (meta.timestamp, meta.type_name, meta.event_version) == (WHEN, "one", 1)
    for field in ("event_id", "correlation_id", "causation_id", "metadata"):
        with pytest.raises(
            MetadataNotRead, match=r"of one at position 7 \(counters/c-1 version 3\)"
        ):
            getattr(meta, field)
    assert "event id and metadata not read" in repr(meta)
    assert meta != meta_of(read) and meta == meta_without_metadata(read)
    assert hash(meta) == hash(meta_without_metadata(read))
    copied = pickle.loads(pickle.dumps(meta))
    assert copied == meta and type(copied) is type(meta)
