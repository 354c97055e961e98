"""Events as evtsrc stored them before events kept ids, event versions and metadata.

The rows below were captured from commit afe64e4 (the last before 6e4560a changed
the storage contract): the conformance model's commands ran on MongoBackend and on
Neo4jBackend (5 and 4.4) of that commit, and each stored document or node was dumped.
Such a document holds exactly `stream`, `aggregate_id`, `version`, `position`,
`timestamp`, `type` and `data` (besides MongoDB's `_id`); a node holds the same
properties with `data` as JSON text; the position counter holds 5. The MongoDB and
Neo4j tests insert them as they were, then `check_old_store` upgrades the store and
reads it every way evtsrc reads events.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from evtsrc import AlreadyProcessed, Domain, EventHandler, EventMeta, on_event
from evtsrc._jsontypes import JSONObject
from evtsrc._meta import legacy_event_id, meta_of
from evtsrc.backends import Backend, Bucket, EventRecord, NewEvent, Once, ProcessedMessages
from evtsrc.testing.backend_contract._model import Address, Counter, Ledger, Multi, One, Two

STAMP = datetime(2026, 12, 1, 9, 5, 53, 192000, tzinfo=UTC)
"""When the old events were stored (whole milliseconds, as MongoDB keeps them)."""

OLD_EVENTS: list[tuple[str, str, int, int, str, JSONObject]] = [
    ("counters", "a", 1, 1, "one", {}),
    ("ledgers", "x", 1, 2, "address", {"street": "1st", "city": "Springfield"}),
    ("counters", "b", 1, 3, "multi", {}),
    ("counters", "b", 2, 4, "multi", {}),
    ("counters", "a", 2, 5, "two", {}),
]
"""(stream, aggregate_id, version, position, type, data) of each old event."""

OLD_TOP = 5
"""The position counter of the old store."""

LEGACY = [EventRecord(s, a, v, p, STAMP, t, d) for s, a, v, p, t, d in OLD_EVENTS]
"""The old events as every read must return them: no id, event version 1, no metadata."""

METADATA: JSONObject = {"correlation_id": "req-1", "user": "Zoë", "tags": ["a", "b"]}


class Metas(EventHandler, name="metas"):
    """Records what each event's meta says of its id, event version and metadata."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, str, int, JSONObject, str, str | None]] = []

    @on_event
    def counted(self, event: One | Two | Multi | Address, meta: EventMeta) -> None:
        self.seen.append(
            (
                meta.position,
                meta.event_id,
                meta.event_version,
                meta.metadata,
                meta.correlation_id,
                meta.causation_id,
            )
        )


def _legacy_meta(record: EventRecord) -> tuple[int, str, int, JSONObject, str, None]:
    derived = legacy_event_id(record.stream, record.aggregate_id, record.version)
    return (record.position, derived, 1, {}, derived, None)


async def check_old_store(backend: Backend) -> None:
    """Upgrade a store holding `OLD_EVENTS` and check every read and a new append.

    The store's schema was created as the old release created it (its `create_schema`
    statements are unchanged), and the old events inserted as that release wrote them.
    """
    await backend.create_schema()
    assert list(await backend.read_aggregate("counters", "a")) == [LEGACY[0], LEGACY[4]]
    assert list(await backend.read_aggregate("counters", "b", after_version=1)) == [LEGACY[3]]
    assert list(await backend.read_streams(["counters", "ledgers"])) == LEGACY
    assert list(await backend.read_streams(["ledgers"])) == [LEGACY[1]]
    assert await backend.last_position(["counters"]) == OLD_TOP
    await check_buckets(backend, LEGACY)

    domain = Domain(backend, aggregates=[Counter, Ledger])
    counter = await domain.repository(Counter).load("a")
    assert (counter.version, counter.one, counter.two, counter.folded_position) == (2, 1, 1, 1)
    assert counter.last_position == LEGACY[4].position
    assert (await domain.repository(Ledger).load("x")).entries == 1

    runner = domain.handler(Metas())
    assert await runner.run_once() == len(LEGACY)
    assert runner.handler.seen == [_legacy_meta(r) for r in LEGACY]

    # New events next to the old ones keep their ids, event versions and metadata.
    await domain.repository(Counter).execute("a", Counter.do_one)
    [domains] = await backend.read_aggregate("counters", "a", after_version=2)
    assert domains.position == OLD_TOP + 1
    assert domains.event_id is not None and len(domains.event_id) == 36
    assert (domains.event_version, meta_of(domains).metadata) == (1, {})
    given = NewEvent("one", {}, STAMP, event_id="e-1", metadata=METADATA)
    appended = await backend.append("counters", "c", 0, [given])
    assert list(await backend.read_aggregate("counters", "c")) == list(appended)
    user = {"user": "Zoë", "tags": ["a", "b"]}
    assert await runner.run_once() == 2
    assert runner.handler.seen[-2:] == [
        (OLD_TOP + 1, domains.event_id, 1, {}, domains.event_id, None),
        (OLD_TOP + 2, "e-1", 1, user, "req-1", None),
    ]

    # Creating the schema again changes nothing.
    await backend.create_schema()
    everything = await backend.read_streams(["counters", "ledgers"])
    assert list(everything) == [*LEGACY, domains, *appended]
    await check_buckets(backend, everything)
    loaded = await domain.repository(Counter).load("a")
    assert (loaded.version, loaded.one, loaded.two) == (3, 2, 1)


async def check_buckets(backend: Backend, events: Sequence[EventRecord]) -> None:
    """Each bucket of 1, 2 and 3 reads exactly its share of `events` (all of the store's)."""
    for count in (1, 2, 3):
        for index in range(count):
            bucket = Bucket(index, count)
            expected = [r for r in events if bucket.holds(r.aggregate_id)]
            read = await backend.read_streams(["counters", "ledgers"], bucket=bucket)
            assert list(read) == expected, bucket
            paged: list[EventRecord] = []
            while page := await backend.read_streams(
                ["ledgers", "counters"],
                after_position=paged[-1].position if paged else 0,
                limit=1,
                bucket=bucket,
            ):
                paged += page
            assert paged == expected, bucket


async def check_processed_upgrade(backend: Backend) -> None:
    """Upgrade a store made before `ProcessedMessages` (without its collection or label's
    uniqueness), then check that a key is recorded with its append, once.
    """
    assert isinstance(backend, ProcessedMessages)
    await backend.create_schema()
    given = [NewEvent("one", {}, STAMP)]
    await backend.append("counters", "a", 0, given, once=Once("inbox", "m#0"))
    with pytest.raises(AlreadyProcessed):
        await backend.append("counters", "b", 0, given, once=Once("inbox", "m#0"))
    await backend.mark_processed("inbox", "m#1")
    await backend.mark_processed("inbox", "m#1")
    assert await backend.processed("inbox", "m#0") and await backend.processed("inbox", "m#1")
    assert await backend.read_aggregate("counters", "b") == []
    await backend.create_schema()  # again: changes nothing
    with pytest.raises(AlreadyProcessed):
        await backend.append("counters", "b", 0, given, once=Once("inbox", "m#1"))
