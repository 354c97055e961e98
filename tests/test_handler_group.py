"""Partitioned handler groups in one process: buckets, shares, rebalancing, concurrency."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest

from evtsrc import (
    DefinitionError,
    Domain,
    EventHandler,
    EventMeta,
    HandlerBehind,
    HandlerBusy,
    HandlerGroup,
    TransactionalHandler,
    on_event,
)
from evtsrc.backends import Bucket, InMemoryBackend, InMemoryBookmarks, bucket_key
from evtsrc.backends.base import AppendListener, BookmarkStore
from tests.conformance.model import Counter, Ledger, One

TTL = 0.3  # members beat every 0.1 s


class Seen(EventHandler, name="seen"):
    """Records each aggregate's versions as handled, and how many callbacks ran at once."""

    def __init__(self, pause: float = 0.0, log: list[tuple[str, int]] | None = None) -> None:
        self.versions: dict[str, list[int]] = {}
        self.log = log if log is not None else []
        """Every (aggregate, version) handled, in order: may be shared by several handlers."""
        self.pause = pause
        self.running = 0
        self.most_at_once = 0

    @on_event
    async def one(self, event: One, meta: EventMeta) -> None:
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            if self.pause:
                await asyncio.sleep(self.pause)
            self.versions.setdefault(meta.aggregate_id, []).append(meta.version)
            self.log.append((meta.aggregate_id, meta.version))
        finally:
            self.running -= 1


async def _domain(aggregates: int, events: int = 1) -> tuple[Domain, int]:
    domain = Domain(InMemoryBackend(), aggregates=[Counter, Ledger])
    last = 0
    for _ in range(events):
        for n in range(aggregates):
            counter = await domain.repository(Counter).execute(f"c{n}", Counter.do_one)
            last = counter.last_position
    return domain, last


async def _until(check: Callable[[], Awaitable[bool] | bool], timeout: float = 5.0) -> None:
    """Wait until `check()` holds, failing after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if result if isinstance(result, bool) else await result:
            return
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


def test_bucket_key_is_the_ids_crc32_and_stable() -> None:
    # Fixed values: the key must never change, or stored events land in other buckets.
    assert bucket_key("acct-1") == 661107317
    assert bucket_key("") == 0
    assert bucket_key("é") == bucket_key("\u00e9")
    assert all(0 <= bucket_key(f"x{n}") < 2**31 for n in range(1000))
    assert Bucket(661107317 % 4, 4).holds("acct-1")
    with pytest.raises(ValueError, match="bucket 4 is not one of 0 to 3"):
        Bucket(4, 4)
    with pytest.raises(ValueError, match="bucket count"):
        Bucket(0, 0)


async def test_members_share_the_buckets_and_handle_every_event_once_in_order() -> None:
    domain, last = await _domain(40, events=3)
    log: list[tuple[str, int]] = []
    groups = [domain.handler_group(Seen(log=log), buckets=8, member_ttl=TTL) for _ in "abc"]
    for group in groups:
        await group.start()
    try:
        await groups[0].wait_for(last, timeout=10)
        await _until(lambda: sorted(len(g.held) for g in groups) == [2, 3, 3])
        held = [set(g.held) for g in groups]
    finally:
        for group in groups:
            await group.stop()
    assert set().union(*held) == set(range(8))
    assert sum(len(h) for h in held) == 8
    assert len(log) == 120
    merged: dict[str, list[int]] = {}
    for aggregate_id, version in log:
        merged.setdefault(aggregate_id, []).append(version)
    assert merged == {f"c{n}": [1, 2, 3] for n in range(40)}


async def test_a_joining_member_takes_only_what_the_new_shares_need() -> None:
    domain, _ = await _domain(5)
    first, second = (domain.handler_group(Seen(), buckets=12, member_ttl=TTL) for _ in "ab")
    await first.start()
    await second.start()
    try:
        await _until(lambda: len(first.held) == len(second.held) == 6)
        before = {first.member: set(first.held), second.member: set(second.held)}
        third = domain.handler_group(Seen(), buckets=12, member_ttl=TTL)
        await third.start()
        await _until(lambda: [len(g.held) for g in (first, second, third)] == [4, 4, 4])
        for group in (first, second):  # kept four of its six: only two moved
            assert set(group.held) <= before[group.member]
        await third.stop()
        await _until(lambda: len(first.held) == len(second.held) == 6)
    finally:
        await first.stop()
        await second.stop()
    assert not first.held and not second.held


async def test_a_stopping_member_hands_its_buckets_over_within_a_beat() -> None:
    domain, last = await _domain(30)
    log: list[tuple[str, int]] = []
    first, second = (domain.handler_group(Seen(log=log), buckets=6, member_ttl=TTL) for _ in "ab")
    await first.start()
    await second.start()
    await _until(lambda: len(first.held) == len(second.held) == 3)
    await first.wait_for(last, timeout=5)
    await first.stop()
    loop = asyncio.get_running_loop()
    stopped = loop.time()
    await _until(lambda: len(second.held) == 6)
    assert loop.time() - stopped < TTL  # left at once: taken at the next beat (TTL / 3)
    counter = await domain.repository(Counter).execute("c0", Counter.do_one)
    await second.wait_for(counter.last_position, timeout=5)
    await second.stop()
    assert [version for aggregate_id, version in log if aggregate_id == "c0"] == [1, 2]


async def test_buckets_are_handled_concurrently_up_to_the_bound() -> None:
    for concurrency, expected in ((1, 1), (4, 4), (16, 8)):
        domain, last = await _domain(64)
        handler = Seen(pause=0.02)
        group = domain.handler_group(
            handler, buckets=8, concurrency=concurrency, member_ttl=TTL, batch_size=4
        )
        await group.start()
        try:
            await group.wait_for(last, timeout=20)
        finally:
            await group.stop()
        assert handler.most_at_once == expected, concurrency
        assert sorted(handler.versions) == sorted(f"c{n}" for n in range(64))


async def test_a_handler_run_alone_before_goes_on_from_its_bookmark_in_a_group() -> None:
    domain, first_last = await _domain(10)
    alone = Seen()
    await domain.handler(alone).run_once()
    assert len(alone.versions) == 10
    again = await domain.repository(Counter).execute("c3", Counter.do_one)
    grouped = Seen()
    group = domain.handler_group(grouped, buckets=4, member_ttl=TTL)
    assert set((await group.positions()).values()) == {first_last}
    await group.start()
    try:
        await group.wait_for(again.last_position, timeout=5)
    finally:
        await group.stop()
    assert grouped.versions == {"c3": [2]}
    positions = await group.positions()
    assert positions[bucket_key("c3") % 4] == again.last_position


async def test_wait_for_times_out_while_a_bucket_is_behind() -> None:
    domain, last = await _domain(10)
    group = domain.handler_group(Seen(), buckets=4, member_ttl=TTL)
    with pytest.raises(HandlerBehind):
        await group.wait_for(last, timeout=0.1)
    await group.wait_for(0, timeout=0.1)


async def test_members_with_different_bucket_counts_hold_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    domain, _ = await _domain(5)
    four = domain.handler_group(Seen(), buckets=4, member_ttl=TTL)
    await four.start()
    await _until(lambda: len(four.held) == 4)
    six = domain.handler_group(Seen(), buckets=6, member_ttl=TTL)
    with caplog.at_level(logging.ERROR, "evtsrc.handlers"):
        await six.start()
        await _until(lambda: not four.held and not six.held)
    assert "run different bucket counts (4, 6)" in caplog.text
    await six.stop()
    await _until(lambda: len(four.held) == 4)
    await four.stop()


async def test_bad_options_are_refused() -> None:
    domain, _ = await _domain(1)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"buckets": 0}, "buckets must be an int of 1 or more, not 0"),
        ({"buckets": 4, "concurrency": 0}, "concurrency must be an int of 1 or more, not 0"),
        ({"buckets": 4, "member_ttl": 0}, "member_ttl must be more than 0 seconds"),
        ({"buckets": True}, "buckets must be an int of 1 or more, not True"),
        ({"buckets": 4, "poll_interval": 0}, "poll_interval must be positive, not 0"),
        ({"buckets": 4, "batch_size": 0}, "batch_size must be at least 1, not 0"),
    ]
    for options, message in cases:
        with pytest.raises(ValueError, match=message):
            domain.handler_group(Seen(), **options)

    class Plain:
        async def get_bookmark(self, name: str) -> int:
            return 0

        async def set_bookmark(self, name: str, position: int) -> None:
            pass

    store: BookmarkStore = Plain()
    with pytest.raises(DefinitionError, match="keeps members \\(GroupMembers\\), not .*Plain"):
        domain.handler_group(Seen(), buckets=2, bookmarks=store)
    group: HandlerGroup[Seen] = domain.handler_group(
        Seen(), buckets=2, bookmarks=InMemoryBookmarks()
    )
    assert group.buckets == 2


class Poisoned(Seen, name="seen"):
    """Fails on every event of the aggregates in `poison`."""

    def __init__(self, poison: set[str]) -> None:
        super().__init__()
        self.poison = poison

    @on_event
    async def one(self, event: One, meta: EventMeta) -> None:
        if meta.aggregate_id in self.poison:
            raise RuntimeError(f"cannot handle {meta.aggregate_id}")
        await super().one(event, meta)


async def test_a_poison_aggregate_is_parked_in_its_bucket_and_the_rest_flows() -> None:
    domain, last = await _domain(12, events=2)
    handler = Poisoned({"c5"})
    group = domain.handler_group(handler, buckets=4, concurrency=2, member_ttl=TTL, park=True)
    await group.start()
    try:
        await group.wait_for(last, timeout=5)
    finally:
        await group.stop()
    assert [(p.aggregate_id, p.version) for p in await group.parked()] == [("c5", 1)]
    assert sorted(handler.versions) == sorted(f"c{n}" for n in range(12) if n != 5)
    handler.poison.clear()
    assert await group.retry_parked("counters", "c5") == 2  # not started: takes the bucket
    assert handler.versions["c5"] == [1, 2]
    assert await group.parked() == []
    with pytest.raises(LookupError, match="nothing of counters/c5 parked"):
        await group.discard_parked("counters", "c5")


async def test_a_parked_aggregate_is_retried_by_the_member_holding_its_bucket() -> None:
    domain, last = await _domain(8)
    handler = Poisoned({"c2"})
    group = domain.handler_group(handler, buckets=4, member_ttl=TTL, park=True)
    other = domain.handler_group(Seen(), buckets=4, member_ttl=TTL, park=True)
    await group.start()
    try:
        await group.wait_for(last, timeout=5)
        assert len(await group.parked()) == 1
        with pytest.raises(HandlerBusy, match="seen#"):  # the started member holds it
            await other.retry_parked("counters", "c2")
        handler.poison.clear()
        assert await group.retry_parked("counters", "c2") == 1
        counter = await domain.repository(Counter).execute("c2", Counter.do_one)
        await group.wait_for(counter.last_position, timeout=5)
    finally:
        await group.stop()
    assert handler.versions["c2"] == [1, 2]


async def test_a_transactional_handlers_connection_is_the_running_tasks_own() -> None:
    class Model(TransactionalHandler[str], name="model"):
        @on_event
        def one(self, event: One) -> None:
            pass

    model = Model()
    seen: dict[str, str] = {}

    async def batch(connection: str) -> None:
        model.attach(connection)
        await asyncio.sleep(0.01)  # the other batch attaches meanwhile
        seen[connection] = model.connection

    await asyncio.gather(batch("first"), batch("second"))
    assert seen == {"first": "first", "second": "second"}
    with pytest.raises(RuntimeError, match="only available while a batch runs"):
        model.connection  # noqa: B018  # this task never attached one


class Deaf:
    """An append listener whose wait eats a cancellation, as 3.11's `wait_for` can."""

    async def wait(self, timeout: float) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(timeout)

    async def close(self) -> None:
        pass


class DeafBackend(InMemoryBackend):
    async def listen(self, streams: Sequence[str]) -> AppendListener:
        return Deaf()


async def test_a_member_stops_even_if_its_listener_eats_the_cancel() -> None:
    domain = Domain(DeafBackend(), aggregates=[Counter, Ledger])
    group = domain.handler_group(Seen(), buckets=2, member_ttl=TTL, poll_interval=0.05)
    await group.start()
    await _until(lambda: len(group.held) == 2)
    async with asyncio.timeout(5):
        await group.stop()
    assert not group.running


class Resettable(Seen, name="seen"):
    """Seen, counting its resets."""

    def __init__(self) -> None:
        super().__init__()
        self.resets = 0

    async def on_reset(self) -> None:
        self.resets += 1
        self.versions.clear()


async def test_a_group_rebuilds_every_bucket_from_the_start_under_every_lease() -> None:
    domain, last = await _domain(aggregates=12, events=2)
    first = domain.handler_group(Seen(), buckets=4)
    await first.start()
    await first.wait_for(last, timeout=5)
    await first.stop()
    handler = Resettable()
    again = domain.handler_group(handler, buckets=4)
    assert await again.rebuild() == 24
    assert handler.resets == 1
    assert handler.versions == {f"c{n}": [1, 2] for n in range(12)}
    positions = await again.positions()  # each at its bucket's last event
    assert max(positions.values()) == last and min(positions.values()) > 12
    assert await domain.backend.get_bookmark("seen") == 0


async def test_a_group_rebuild_is_refused_before_anything_is_cleared_while_a_member_runs() -> None:
    domain, _ = await _domain(aggregates=8)
    running = domain.handler_group(Seen(), buckets=2, member_ttl=TTL)
    await running.start()
    try:
        await _until(lambda: len(running.held) == 2)
        handler = Resettable()
        with pytest.raises(HandlerBusy):
            await domain.handler_group(handler, buckets=2).rebuild()
        assert handler.resets == 0
        with pytest.raises(RuntimeError, match="stop it before rebuilding"):
            await running.rebuild()
    finally:
        await running.stop()
