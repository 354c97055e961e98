"""A bucket's page of events, read where the database filters on the stored bucket key.

Each backend stores `base.bucket_key(aggregate_id)` with every event and reads a bucket
with its read of streams and one more condition: the stored key modulo the bucket count
is the bucket's index, or there is no key. An event stored before the store kept keys
has none until `create_schema()` fills it in; so does one an older evtsrc appends after
that. Such an event comes back to every bucket's read, and `read_bucket` keeps it only
in its own (`Bucket.holds`): no bucket skips it, and none sees another's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from ..base import Bucket, EventRecord

KeyedPage = tuple[Sequence[EventRecord], Sequence[int | None]]
"""A page the database filtered, and each record's stored bucket key (None if none)."""


async def read_bucket(
    read: Callable[[int, int], Awaitable[KeyedPage]],
    after_position: int,
    limit: int,
    bucket: Bucket,
) -> Sequence[EventRecord]:
    """At most `limit` events of `bucket` after `after_position`, from `read(after, limit)`.

    `read` returns the events of `bucket` and those without a key, by position, as the
    backend's read of streams does (so with its guarantees on order). Where it returned
    events of other buckets and a whole page, it is read again after that page, so that
    a short result still means that there is no more yet.
    """
    found: list[EventRecord] = []
    while True:
        wanted = limit - len(found)
        records, keys = await read(after_position, wanted)
        if None not in keys:  # all of them in the bucket: as the database filtered
            if not found:
                return records
            found += records
            return found
        found += (
            record
            for record, key in zip(records, keys, strict=True)
            if key is not None or bucket.holds(record.aggregate_id)
        )
        if len(records) < wanted or len(found) >= limit:
            return found
        after_position = records[-1].position
