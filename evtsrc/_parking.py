"""Parked aggregates (dead letters): a handler sets an aggregate aside when its event fails.

The failed event and every later event of its aggregate wait in the store, so that
aggregate's order is kept, while the handler goes on with the others.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ._errors import HandlerError
from .backends.base import Backend, Bucket, EventRecord, ParkedAggregate, ParkedEvents


class Parking:
    """One handler's parked aggregates: in its store, and as this runner last knew them."""

    def __init__(self, store: ParkedEvents, handler: str, *, bucket: Bucket | None = None) -> None:
        self.store = store
        self.handler = handler
        self.bucket = bucket
        """The bucket of a partitioned handler this runner handles: it keeps only its own."""
        self.aggregates: set[tuple[str, str]] = set()
        """(stream, aggregate id) of each parked aggregate, whose events are skipped."""

    async def load(self) -> None:
        """Read what is parked (another runner may have parked, retried or discarded)."""
        parked = await self.store.parked(self.handler)
        bucket = self.bucket
        self.aggregates = {
            (entry.stream, entry.aggregate_id)
            for entry in parked
            if bucket is None or bucket.holds(entry.aggregate_id)
        }

    async def park(self, record: EventRecord, failure: HandlerError) -> None:
        """Set `record`'s aggregate aside from `record` on, which failed with `failure`."""
        await self.keep([self.set_aside(record, failure)])

    def set_aside(self, record: EventRecord, failure: HandlerError) -> ParkedAggregate:
        """`park`, in this runner only: the entry to `keep` once a transaction committed."""
        cause = failure.__cause__
        error = f"{type(cause).__name__}: {cause}" if cause is not None else str(failure)
        self.aggregates.add((record.stream, record.aggregate_id))
        return ParkedAggregate(
            record.stream,
            record.aggregate_id,
            record.version,
            record.position,
            error,
            datetime.now(UTC),
        )

    async def keep(self, entries: list[ParkedAggregate]) -> None:
        """Store entries that `set_aside` made."""
        for entry in entries:
            await self.store.park(self.handler, entry)

    async def find(self, stream: str, aggregate_id: str) -> ParkedAggregate:
        """What is parked of that aggregate; `LookupError` if nothing is."""
        for entry in await self.store.parked(self.handler):
            if (entry.stream, entry.aggregate_id) == (stream, aggregate_id):
                return entry
        raise LookupError(f"handler {self.handler!r} has nothing of {stream}/{aggregate_id} parked")

    async def unpark(self, stream: str, aggregate_id: str) -> None:
        """Let that aggregate's events through again."""
        await self.store.unpark(self.handler, stream, aggregate_id)
        self.aggregates.discard((stream, aggregate_id))


async def parked_records(
    backend: Backend, parked: ParkedAggregate, until: int, page: int
) -> list[EventRecord]:
    """The events of a parked aggregate to handle again: from the failed one up to `until`.

    `until` is the bookmark: later events are handled as they come, once it is let through.
    """
    records: list[EventRecord] = []
    after = parked.version - 1
    while found := await backend.read_aggregate(
        parked.stream, parked.aggregate_id, after_version=after, limit=page
    ):
        records.extend(r for r in found if r.position <= until)
        if found[-1].position > until or len(found) < page:
            break
        after = found[-1].version
    return records
