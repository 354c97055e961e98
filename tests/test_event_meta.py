"""`EventMeta`: a read-only view of a stored record that behaves like a value."""

from __future__ import annotations

import copy
import pickle
from datetime import UTC, datetime

import pytest

from evtsrc import Domain, EventHandler, EventMeta, on_event
from evtsrc._events import meta_of
from evtsrc.backends import InMemoryBackend
from evtsrc.backends.base import EventRecord

from .conformance.model import Counter, One

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


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
    assert repr(meta_of(record())) == (
        "EventMeta(stream='counters', aggregate_id='c-1', version=3, position=7, "
        f"timestamp={WHEN!r}, type_name='one')"
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
    assert seen == [
        EventMeta(r.stream, r.aggregate_id, r.version, r.position, r.timestamp, r.type)
        for r in stored
    ]
    assert [m.version for m in seen] == [1, 2]
