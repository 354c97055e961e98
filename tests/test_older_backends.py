"""Catch-ups on backends written before `read_streams` took `metadata`."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from evtsrc import Domain, EventHandler, EventMeta, MetadataNotRead, on_event
from evtsrc.backends import Backend, EventRecord, InMemoryBackend

from .conformance.model import Counter, One


class OldPrivateRead(InMemoryBackend):
    """Implements `_read_streams` without `metadata`."""

    async def _read_streams(  # type: ignore[override]
        self, streams: tuple[str, ...], after_position: int, limit: int
    ) -> Sequence[EventRecord]:
        return await super()._read_streams(streams, after_position, limit, True)


class OldPublicRead(InMemoryBackend):
    """Overrides `read_streams` itself, without `metadata`."""

    async def read_streams(  # type: ignore[override]
        self, streams: Sequence[str], *, after_position: int = 0, limit: int = 1000
    ) -> Sequence[EventRecord]:
        return await super().read_streams(streams, after_position=after_position, limit=limit)


class Positions(EventHandler, name="positions", reads_metadata=False):
    def __init__(self) -> None:
        self.seen: list[int] = []

    @on_event
    def one(self, event: One, meta: EventMeta) -> None:
        self.seen.append(meta.position)
        with pytest.raises(MetadataNotRead):
            meta.event_id  # noqa: B018


class Whole(EventHandler, name="whole"):
    def __init__(self) -> None:
        self.ids: list[str] = []

    @on_event
    def one(self, event: One, meta: EventMeta) -> None:
        self.ids.append(meta.event_id)


@pytest.mark.parametrize(
    "backend", [OldPrivateRead(), OldPublicRead()], ids=["old _read_streams", "old read_streams"]
)
async def test_handlers_catch_up_as_before(backend: Backend) -> None:
    domain = Domain(backend, aggregates=[Counter])
    for name in "abc":
        await domain.repository(Counter).execute(name, Counter.do_one)
    positions, whole = domain.handler(Positions()), domain.handler(Whole())
    assert (await positions.run_once(), await whole.run_once()) == (3, 3)
    records = await backend.read_streams(["counters"])
    assert positions.handler.seen == [r.position for r in records]
    assert whole.handler.ids == [r.event_id for r in records]
