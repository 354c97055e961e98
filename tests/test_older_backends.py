"""Backends written before: catch-ups without `metadata`, listings without `_list_*`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from evtsrc import Domain, EventHandler, EventMeta, MetadataNotRead, on_event
from evtsrc.backends import (
    Backend,
    EventRecord,
    InMemoryBackend,
    InMemoryBookmarks,
    ListableBookmarks,
    NewEvent,
)

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


class ListsNothing(InMemoryBackend):
    """Written before backends listed bookmarks, streams and aggregates: no `_list_*`."""

    _list_bookmarks = Backend._list_bookmarks
    _list_streams = Backend._list_streams
    _list_aggregate_ids = Backend._list_aggregate_ids


async def test_a_backend_without_listings_names_what_it_lacks() -> None:
    backend = ListsNothing()
    assert isinstance(backend, ListableBookmarks)  # its method is Backend's
    with pytest.raises(
        NotImplementedError, match=r"^ListsNothing cannot list its bookmarks: .*_list_bookmarks\(\)"
    ):
        await backend.bookmarks()
    with pytest.raises(
        NotImplementedError, match=r"^ListsNothing cannot list its streams: .*_list_streams\(\)"
    ):
        await backend.streams()


@pytest.mark.parametrize("page", [1, 2, 3, 999, 1000, 1001, 2500])
async def test_a_backend_without_listings_lists_aggregates_from_its_events(page: int) -> None:
    """The default reads the stream in pages of 1000 events: every page of ids is as listed."""
    old, new = ListsNothing(), InMemoryBackend()
    now = datetime.now(UTC)
    ids = [f"{n * 7919 % 1201:04d}" for n in range(1201)]  # shuffled, each once
    for backend in (old, new):
        for n, aggregate_id in enumerate(ids):
            events = [NewEvent("x", {}, now)] * (1 + n % 3)
            await backend.append("s" if n % 5 else "other", aggregate_id, 0, events)
    for after in ("", "0100", "0100.5", "9"):
        expected = await new.aggregate_ids("s", after=after, limit=page)
        assert await old.aggregate_ids("s", after=after, limit=page) == expected
        assert expected == sorted(i for n, i in enumerate(ids) if n % 5 and i > after)[:page]
    with pytest.raises(ValueError, match=r"^aggregate_ids\(\): limit is 1 or more, not 0"):
        await old.aggregate_ids("s", limit=0)


async def test_in_memory_bookmarks_list_what_they_hold() -> None:
    store = InMemoryBookmarks()
    assert isinstance(store, ListableBookmarks)
    assert await store.bookmarks() == {}
    await store.set_bookmark("b", 2)
    await store.move_bookmark("a", 0, 1)
    await store.set_bookmark("B", 0)
    listed = await store.bookmarks()
    assert list(listed.items()) == [("B", 0), ("a", 1), ("b", 2)]
    listed["b"] = 7  # a copy: the store is unchanged
    assert await store.get_bookmark("b") == 2
