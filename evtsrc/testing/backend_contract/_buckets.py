"""Bucket reads: `read_streams(..., bucket=Bucket(index, count))` reads one bucket's events.

A bucket holds the events of the aggregates whose `bucket_key` modulo the bucket count
is the bucket's index (`Bucket.holds`). Read by bucket, the events of streams are exactly
those of a read of all of them that the bucket holds, in the same order, with the same
paging; every event is in one bucket of each count.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from evtsrc.backends import Backend, Bucket, EventRecord, NewEvent

from ._base import ContractBase

STREAMS = ("s1", "s2")
AGGREGATES = [f"agg-{n}" for n in range(57)] + ["Zoë", "東京", "a b/c"]
"""60 aggregate ids, some not ASCII: the key is the CRC-32 of the id's UTF-8."""
COUNTS = (1, 3, 4)


async def _fill(backend: Backend) -> list[EventRecord]:
    """Events of the 60 aggregates over two streams, their appends interleaved; all of them.

    Each aggregate gets one to three appends of one or two events, in rounds, so that an
    aggregate's events lie between others' and the buckets interleave by position.
    """
    now = datetime.now(UTC)
    versions = dict.fromkeys(AGGREGATES, 0)
    for round_ in range(3):
        for n, aggregate in enumerate(AGGREGATES):
            if round_ > n % 3:
                continue
            count = 1 + (n + round_) % 2
            events = [NewEvent("x", {"n": n, "r": round_}, now) for _ in range(count)]
            await backend.append(STREAMS[n % 2], aggregate, versions[aggregate], events)
            versions[aggregate] += count
    every = list(await backend.read_streams(STREAMS, limit=10_000))
    assert len(every) == sum(versions.values())
    return every


async def _paged(
    backend: Backend,
    streams: tuple[str, ...] | list[str],
    bucket: Bucket,
    limit: int,
    *,
    metadata: bool = True,
) -> list[EventRecord]:
    """A whole bucket, read `limit` at a time from the last position read."""
    found: list[EventRecord] = []
    while page := await backend.read_streams(
        streams,
        after_position=found[-1].position if found else 0,
        limit=limit,
        metadata=metadata,
        bucket=bucket,
    ):
        assert len(page) <= limit
        found += page
    return found


def _key(record: EventRecord) -> tuple[str, str, int]:
    return record.stream, record.aggregate_id, record.version


class BucketContract(ContractBase):
    """Each bucket reads exactly the events of its aggregates, by position, page by page."""

    async def test_every_event_is_in_exactly_one_bucket_of_each_count(
        self, backend: Backend
    ) -> None:
        every = await _fill(backend)
        for count in COUNTS:
            seen: list[tuple[str, str, int]] = []
            for index in range(count):
                bucket = Bucket(index, count)
                read = list(await backend.read_streams(STREAMS, limit=10_000, bucket=bucket))
                assert read == [r for r in every if bucket.holds(r.aggregate_id)], bucket
                positions = [r.position for r in read]
                assert positions == sorted(set(positions)), bucket
                seen += [_key(r) for r in read]
            assert sorted(seen) == sorted(_key(r) for r in every), count
        one = await backend.read_streams(STREAMS, limit=10_000, bucket=Bucket(0, 1))
        assert list(one) == every

    async def test_a_bucket_holds_the_aggregates_bucket_key_places_in_it(
        self, backend: Backend
    ) -> None:
        every = await _fill(backend)
        for count in COUNTS:
            for index in range(count):
                bucket = Bucket(index, count)
                read = await backend.read_streams(STREAMS, limit=10_000, bucket=bucket)
                held = {r.aggregate_id for r in read}
                assert held == {a for a in AGGREGATES if bucket.holds(a)}, bucket
                assert {r.aggregate_id for r in every} - held == {
                    a for a in AGGREGATES if not bucket.holds(a)
                }

    async def test_bucket_pages_after_a_position_are_one_bucket_read(
        self, backend: Backend
    ) -> None:
        every = await _fill(backend)
        for count, limits in ((3, (1, 11)), (4, (4,))):
            for index in range(count):
                bucket = Bucket(index, count)
                whole = [r for r in every if bucket.holds(r.aggregate_id)]
                for limit in limits:
                    assert await _paged(backend, STREAMS, bucket, limit) == whole, (bucket, limit)
                middle = whole[len(whole) // 2].position
                after = await backend.read_streams(
                    ["s2", "s1", "s2"], after_position=middle, limit=5, bucket=bucket
                )
                assert list(after) == [r for r in whole if r.position > middle][:5]

    async def test_bucket_reads_without_metadata_keep_everything_else(
        self, backend: Backend
    ) -> None:
        every = await _fill(backend)
        for index in range(3):
            bucket = Bucket(index, 3)
            whole = [r for r in every if bucket.holds(r.aggregate_id)]
            for limit in (3, 10_000):
                lean = await _paged(backend, STREAMS, bucket, limit, metadata=False)
                assert [_without_metadata(r) for r in lean] == [_without_metadata(r) for r in whole]
                for record, full in zip(lean, whole, strict=True):
                    assert record.event_id in (None, full.event_id)
                    assert record.metadata in (None, full.metadata)

    async def test_a_bucket_of_one_stream_reads_that_stream_only(self, backend: Backend) -> None:
        every = await _fill(backend)
        for stream in STREAMS:
            for count in COUNTS:
                for index in range(count):
                    bucket = Bucket(index, count)
                    expected = [
                        r for r in every if r.stream == stream and bucket.holds(r.aggregate_id)
                    ]
                    assert await _paged(backend, [stream], bucket, 7) == expected, bucket
                    lean = await _paged(backend, [stream], bucket, 7, metadata=False)
                    assert [_without_metadata(r) for r in lean] == [
                        _without_metadata(r) for r in expected
                    ]
        assert list(await backend.read_streams(["nothing"], bucket=Bucket(0, 2))) == []
        assert list(await backend.read_streams([], bucket=Bucket(1, 2))) == []


def _without_metadata(record: EventRecord) -> EventRecord:
    return msgspec.structs.replace(record, event_id=None, metadata=None)
