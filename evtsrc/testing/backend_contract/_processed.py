"""Inboxes' processed messages: an append made for a message is made once, or not at all."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from evtsrc import AlreadyProcessed, VersionConflict
from evtsrc.backends import Backend, NewEvent, Once, ProcessedMessages

from ._base import ContractBase

LONG_KEY = "m" * 200
"""A key of the longest length an inbox gives (longer message ids are hashed to fit)."""


def _processed(backend: Backend) -> ProcessedMessages:
    if not isinstance(backend, ProcessedMessages):
        pytest.skip(f"{type(backend).__name__} is not ProcessedMessages: it keeps no inboxes")
    return backend


def _events(count: int = 1) -> list[NewEvent]:
    now = datetime.now(UTC)
    return [NewEvent("x", {"n": n}, now) for n in range(count)]


class ProcessedMessagesContract(ContractBase):
    """`ProcessedMessages` and appends with `once`: recorded in the append's transaction."""

    async def test_an_append_once_stores_its_events_and_records_its_key(
        self, backend: Backend
    ) -> None:
        store = _processed(backend)
        assert not await store.processed("inbox", "m1#0")
        records = await backend.append("s", "a", 0, _events(2), once=Once("inbox", "m1#0"))
        assert [r.version for r in records] == [1, 2]
        assert await store.processed("inbox", "m1#0")
        assert not await store.processed("other inbox", "m1#0")
        assert not await store.processed("inbox", "m1#1")

    async def test_an_append_once_again_stores_nothing_whatever_the_version(
        self, backend: Backend
    ) -> None:
        _processed(backend)
        once = Once("inbox", "m1#0")
        await backend.append("s", "a", 0, _events(), once=once)
        with pytest.raises(AlreadyProcessed) as again:
            await backend.append("s", "a", 1, _events(), once=once)
        assert (again.value.inbox, again.value.key) == ("inbox", "m1#0")
        # A delivery after the append finds the aggregate moved on: still the key decides.
        with pytest.raises(AlreadyProcessed):
            await backend.append("s", "a", 0, _events(), once=once)
        with pytest.raises(AlreadyProcessed):
            await backend.append("s", "other", 0, _events(), once=once)
        assert [r.version for r in await backend.read_aggregate("s", "a")] == [1]
        assert await backend.read_aggregate("s", "other") == []

    async def test_an_append_once_that_conflicts_records_nothing(self, backend: Backend) -> None:
        store = _processed(backend)
        await backend.append("s", "a", 0, _events())
        with pytest.raises(VersionConflict):
            await backend.append("s", "a", 0, _events(), once=Once("inbox", "m2#0"))
        assert not await store.processed("inbox", "m2#0")
        await backend.append("s", "a", 1, _events(), once=Once("inbox", "m2#0"))
        assert await store.processed("inbox", "m2#0")

    async def test_marking_a_key_is_idempotent_and_stops_its_appends(
        self, backend: Backend
    ) -> None:
        store = _processed(backend)
        await store.mark_processed("inbox", "m3")
        await store.mark_processed("inbox", "m3")
        assert await store.processed("inbox", "m3")
        with pytest.raises(AlreadyProcessed):
            await backend.append("s", "a", 0, _events(), once=Once("inbox", "m3"))
        assert await backend.read_aggregate("s", "a") == []

    async def test_keys_are_compared_exactly(self, backend: Backend) -> None:
        store = _processed(backend)
        keys = ["Key", "key", "key ", "ключ#0", "a'b\"c\\d", LONG_KEY, "x" * 199 + "y"]
        for n, key in enumerate(keys):
            await backend.append("s", f"a{n}", 0, _events(), once=Once("in'box", key))
        for key in keys:
            assert await store.processed("in'box", key)
        assert not await store.processed("in'box", "KEY")
        assert not await store.processed("inbox", "key")

    async def test_one_key_appended_at_once_is_stored_once(self, backend: Backend) -> None:
        _processed(backend)
        once = Once("inbox", "race#0")
        results = await asyncio.gather(
            *(backend.append("s", f"a{n}", 0, _events(), once=once) for n in range(4)),
            return_exceptions=True,
        )
        stored = [r for r in results if not isinstance(r, BaseException)]
        assert len(stored) == 1, results
        assert all(isinstance(r, AlreadyProcessed) for r in results if r not in stored), results
        held = [n for n in range(4) if await backend.read_aggregate("s", f"a{n}")]
        assert len(held) == 1
