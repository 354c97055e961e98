"""Repository behaviour beyond the backend contract: the cache, runtime checks, aggregates."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from evtsrc import (
    Aggregate,
    CommandError,
    Domain,
    Event,
    EventDecodeError,
    EventMeta,
    RetryPolicy,
    Snapshots,
    command,
    folds,
)
from evtsrc._cache import LRUCache
from evtsrc.backends import EventRecord, InMemoryBackend, NewEvent, SnapshotRecord, SqliteBackend

from .conformance.model import Counter, Ledger, One


class Noted(Event):
    text: str


class Unfolded(Event):
    pass


class Notebook(Aggregate, stream="notebooks"):
    notes: tuple[str, ...] = ()

    @folds
    def _noted(self, event: Noted) -> None:
        self.notes = (*self.notes, event.text)

    @command
    def note(self, text: str) -> Noted:
        return Noted(text=text)

    @command
    def anything(self, value: object) -> Sequence[Event]:
        return value  # type: ignore[return-value]


class Other(Aggregate, stream="others"):
    @command
    def nothing(self) -> None:
        return None


def count_reads(backend: InMemoryBackend) -> list[int]:
    """Record the number of events each read_aggregate of `backend` returns."""
    reads: list[int] = []
    original = backend.read_aggregate

    async def counting(stream: str, aggregate_id: str, **kwargs: int) -> object:
        records = await original(stream, aggregate_id, **kwargs)
        reads.append(len(records))
        return records

    backend.read_aggregate = counting  # type: ignore[method-assign,assignment]
    return reads


async def test_the_cache_folds_only_newer_events_and_sees_other_writers() -> None:
    backend = InMemoryBackend()
    cached = Domain(backend, aggregates=[Notebook], cache_size=2).repository(Notebook)
    plain = Domain(backend, aggregates=[Notebook]).repository(Notebook)
    await cached.execute("n", Notebook.note, "a")
    await plain.execute("n", Notebook.note, "b")  # another writer the cache has not seen
    reads = count_reads(backend)
    loaded = await cached.load("n")
    assert loaded.notes == ("a", "b")
    assert reads == [1]  # only the event after the cached version was read
    again = await cached.load("n")
    assert again == loaded and again is not loaded
    again.notes = ("mutated by the caller",)
    assert (await cached.load("n")).notes == ("a", "b")


class Door(Aggregate, stream="doors"):
    is_open: bool = False
    visits: int = 0

    @folds
    def _opened(self, event: Opened) -> None:
        self.is_open = True

    @folds
    def _entered(self, event: Entered) -> None:
        self.visits += 1

    @command
    def open(self) -> Opened | None:
        return None if self.is_open else Opened()

    @command
    def enter(self) -> Entered:
        if not self.is_open:
            raise CommandError("the door is shut", code="SHUT")
        return Entered()


class Opened(Event, type_name="door.opened"):
    pass


class Entered(Event, type_name="door.entered"):
    pass


async def test_a_command_on_a_cached_aggregate_decides_without_reading() -> None:
    backend = InMemoryBackend()
    notebooks = Domain(backend, aggregates=[Notebook]).repository(Notebook)  # default cache
    await notebooks.execute("n", Notebook.note, "a")
    reads = count_reads(backend)
    after = await notebooks.execute("n", Notebook.note, "b")
    assert reads == []
    assert (after.version, after.notes) == (2, ("a", "b"))
    assert [e.meta.version for e in await notebooks.history("n")] == [1, 2]


async def test_a_stale_cached_aggregate_is_decided_again_on_the_stored_state() -> None:
    backend = InMemoryBackend()
    cached = Domain(backend, aggregates=[Notebook]).repository(Notebook)
    other = Domain(backend, aggregates=[Notebook], cache_size=0).repository(Notebook)
    await cached.execute("n", Notebook.note, "a")
    await other.execute("n", Notebook.note, "b")  # the cache has not seen this
    reads = count_reads(backend)
    after = await cached.execute("n", Notebook.note, "c")  # NO_RETRY, and yet no conflict
    assert (after.version, after.notes) == (3, ("a", "b", "c"))
    assert reads == [1]  # one read, of the event the cache missed
    assert [e.event for e in await cached.history("n")] == [
        Noted(text="a"),
        Noted(text="b"),
        Noted(text="c"),
    ]


async def test_a_refusal_or_no_op_on_cached_state_is_checked_on_the_stored_state() -> None:
    backend = InMemoryBackend()
    cached = Domain(backend, aggregates=[Door]).repository(Door)
    other = Domain(backend, aggregates=[Door], cache_size=0).repository(Door)
    assert (await cached.load("d")).is_open is False  # cached: shut
    await other.execute("d", Door.open)
    entered = await cached.execute("d", Door.enter)  # the cache says shut; the store says open
    assert (entered.version, entered.visits) == (2, 1)

    second = Domain(backend, aggregates=[Door]).repository(Door)
    await second.load("e")  # cached: shut, version 0
    await other.execute("e", Door.open)
    unchanged = await second.execute("e", Door.open)  # a no-op only on the stored state
    assert (unchanged.version, unchanged.is_open) == (1, True)
    with pytest.raises(CommandError, match="shut"):
        await second.execute("never-opened", Door.enter)


async def test_a_state_the_default_cache_cannot_store_is_simply_not_cached() -> None:
    backend = InMemoryBackend()
    gauges = Domain(backend, aggregates=[Gauge]).repository(Gauge)
    await gauges.execute("g", Gauge.read, value=float("nan"))  # the state holds NaN
    reads = count_reads(backend)
    again = await gauges.execute("g", Gauge.read, value=1.5)
    assert (again.version, again.last) == (2, 1.5)
    assert reads == [1]  # not cached: the command read the one stored event


class Measured(Event, type_name="gauge.measured"):
    value: float | None


class Gauge(Aggregate, stream="gauges"):
    last: float = 0.0

    @folds
    def _measured(self, event: Measured) -> None:
        self.last = event.value if event.value is not None else float("nan")

    @command
    def read(self, value: float) -> Measured:
        return Measured(value=None if value != value else value)


async def test_the_cache_is_bounded() -> None:
    cache: LRUCache[str, int] = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c"), len(cache)) == (1, None, 3, 2)
    with pytest.raises(ValueError, match="at least 1"):
        LRUCache(0)
    with pytest.raises(ValueError, match="cache_size"):
        Domain(InMemoryBackend(), aggregates=[Notebook], cache_size=-1)


async def test_with_retry_keeps_the_cache_and_checks_its_policy() -> None:
    repo = Domain(InMemoryBackend(), aggregates=[Notebook], cache_size=5).repository(Notebook)
    retrying = repo.with_retry(RetryPolicy(attempts=3))
    await retrying.execute("n", Notebook.note, "x")
    assert (await repo.load("n")).notes == ("x",)
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)
    assert 0 <= RetryPolicy(backoff=0.01).delay(3) <= 0.04


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("text", "returned 'text'; a command returns an event"),
        ([Noted(text="ok"), 5], "returned 5, which is not an Event"),
        ([Unfolded()], "returned Unfolded, which no fold of Notebook applies"),
    ],
)
async def test_what_a_command_returns_is_checked_before_storing(
    value: object, message: str
) -> None:
    repo = Domain(InMemoryBackend(), aggregates=[Notebook]).repository(Notebook)
    with pytest.raises(TypeError, match=message):
        await repo.execute("n", Notebook.anything, value)
    assert await repo.history("n") == []


async def test_a_command_of_another_aggregate_is_refused() -> None:
    domain = Domain(InMemoryBackend(), aggregates=[Notebook, Other])
    with pytest.raises(TypeError, match="Other.nothing is not a @command of Notebook"):
        await domain.repository(Notebook).execute("n", Other.nothing)  # type: ignore[arg-type]


class Auditor(Aggregate, stream="auditors"):
    @command
    async def audit(self, ledger_id: str) -> One:
        ledger, again = await asyncio.gather(
            self.load(Ledger, ledger_id), self.load(Ledger, ledger_id)
        )
        assert ledger == again
        if not ledger.entries:
            raise CommandError("no such ledger", code="NO_LEDGER")
        return One()

    @folds
    def _audited(self, event: One) -> None:
        pass


async def test_aggregates_load_others_only_while_a_command_runs() -> None:
    domain = Domain(InMemoryBackend(), aggregates=[Auditor, Counter, Ledger])
    auditors = domain.repository(Auditor)
    with pytest.raises(CommandError, match="no such ledger"):
        await auditors.execute("a", Auditor.audit, "l")
    await domain.repository(Ledger).execute("l", Ledger.record, street="s")
    assert (await auditors.execute("a", Auditor.audit, "l")).version == 1
    counter = await domain.repository(Counter).load("c")
    message = "Counter.load\\(\\) reads other aggregates only while a command runs"
    with pytest.raises(RuntimeError, match=message):
        await counter.load(Ledger, "l")
    with pytest.raises(RuntimeError, match=message):
        await Counter().load(Ledger, "l")
    assert "_evtsrc_domain" not in vars(counter)


def test_aggregates_compare_and_print_with_id_and_version() -> None:
    a, b = Counter(one=1), Counter(one=1)
    assert a == b and a != Counter(one=2)
    b.version = 1
    assert a != b
    assert a != Ledger()
    assert repr(Ledger()) == "Ledger(id='', version=0, entries=0)"
    with pytest.raises(TypeError):
        hash(a)
    with pytest.raises(TypeError):
        Counter(1)  # type: ignore[misc]


class Snappy(Aggregate, stream="snappy", snapshots=Snapshots()):
    count: int = 0

    @folds
    def _one(self, event: One) -> None:
        self.count += 1

    @command
    def bump(self) -> One:
        return One()


async def test_a_failed_snapshot_write_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend = InMemoryBackend()

    async def broken(snapshot: SnapshotRecord) -> None:
        raise ConnectionError("snapshot store is down")

    backend.put_snapshot = broken  # type: ignore[method-assign]
    repo = Domain(backend, aggregates=[Snappy]).repository(Snappy)
    with caplog.at_level(logging.WARNING, logger="evtsrc"):
        after = await repo.execute("s", Snappy.bump)
    assert after.count == 1
    assert "could not store the snapshot of snappy/s at version 1" in caplog.text
    assert (await repo.load("s")).count == 1


async def test_a_snapshot_of_the_wrong_shape_is_a_clear_error() -> None:
    backend = InMemoryBackend()
    repo = Domain(backend, aggregates=[Snappy], cache_size=0).repository(Snappy)
    await repo.execute("s", Snappy.bump)
    good = await backend.get_snapshot("snappy", "s")
    assert good is not None
    await backend.put_snapshot(SnapshotRecord("snappy", "s", 1, good.key, {"count": "one"}))
    with pytest.raises(EventDecodeError, match=r"stored state of Snappy does not match its fields"):
        await repo.load("s")


class Liar(Aggregate, stream="liars"):
    @folds
    def _noted(self, event: Noted | Unfolded) -> None:
        pass

    @command
    def claim(self) -> Noted:
        return Unfolded()  # type: ignore[return-value]


async def test_a_command_returning_what_its_annotation_does_not_name_is_refused() -> None:
    repo = Domain(InMemoryBackend(), aggregates=[Liar]).repository(Liar)
    with pytest.raises(TypeError, match="returned Unfolded, which its return annotation does not"):
        await repo.execute("l", Liar.claim)
    assert await repo.history("l") == []


class SlowReads(InMemoryBackend):
    """Reads that wait, as a database's do, and say which of them were cancelled."""

    def __init__(self, *, reads_ahead: bool) -> None:
        super().__init__()
        self.reads_ahead = reads_ahead
        self.reads: list[int] = []  # after_version of each read, in the order they began
        self.cancelled: list[int] = []

    async def read_aggregate(
        self,
        stream: str,
        aggregate_id: str,
        *,
        after_version: int = 0,
        limit: int = 1000,
        meta: bool = True,
    ) -> Sequence[EventRecord]:
        self.reads.append(after_version)
        try:
            await asyncio.sleep(0.001)
        except asyncio.CancelledError:
            self.cancelled.append(after_version)
            raise
        return await super().read_aggregate(
            stream, aggregate_id, after_version=after_version, limit=limit, meta=meta
        )


@pytest.mark.parametrize("reads_ahead", [True, False])
async def test_a_long_stream_loads_page_by_page_with_or_without_reading_ahead(
    reads_ahead: bool,
) -> None:
    backend = SlowReads(reads_ahead=reads_ahead)
    notebooks = Domain(backend, aggregates=[Notebook], cache_size=0).repository(Notebook)
    texts = [str(i) for i in range(2345)]
    await notebooks.execute("n", Notebook.anything, [Noted(text=t) for t in texts])
    backend.reads.clear()
    loaded = await notebooks.load("n")
    assert loaded.notes == tuple(texts) and loaded.version == 2345
    assert backend.reads == [0, 1000, 2000]
    assert backend.cancelled == []


async def test_a_fold_that_fails_while_the_next_page_is_read_cancels_that_read() -> None:
    backend = SlowReads(reads_ahead=True)
    domain = Domain(backend, aggregates=[Notebook], cache_size=0)
    noted = domain.codec.encode(Noted(text="x"))
    now = datetime.now(UTC)
    events = [NewEvent(*noted, now)] * 1500
    events[499] = NewEvent("not.a.notebook.event", {}, now)  # in the first page
    await backend.append("notebooks", "n", 0, events)
    with pytest.raises(EventDecodeError, match=r"notebooks/n v500"):
        await domain.repository(Notebook).load("n")
    assert backend.reads == [0, 1000] and backend.cancelled == [1000]


async def test_argument_shapes_that_bound_once_do_not_let_others_through() -> None:
    notebooks = Domain(InMemoryBackend(), aggregates=[Notebook]).repository(Notebook)
    for _ in range(2):
        await notebooks.execute("n", Notebook.note, "a")
        await notebooks.execute("n", Notebook.note, text="b")
        with pytest.raises(TypeError, match=r"Notebook\.note\(\).*missing a required argument"):
            await notebooks.execute("n", Notebook.note)  # type: ignore[call-arg]
        with pytest.raises(TypeError, match=r"Notebook\.note\(\).*too many positional"):
            await notebooks.execute("n", Notebook.note, "a", "b")  # type: ignore[call-arg]
        with pytest.raises(TypeError, match=r"Notebook\.note\(\).*unexpected keyword"):
            await notebooks.execute("n", Notebook.note, "a", txt="b")  # type: ignore[call-arg]
    assert (await notebooks.load("n")).notes == ("a", "b", "a", "b")


class Tallied(Event):
    amount: int
    note: str = ""


class Tally(Aggregate, stream="tallies"):
    seen: tuple[tuple[int, int, str], ...] = ()  # (version before the fold, amount, note)

    @folds
    def _tallied(self, event: Tallied) -> None:
        self.seen = (*self.seen, (self.version, event.amount, event.note))


async def test_a_load_folds_every_payload_shape_in_order_with_the_version_so_far() -> None:
    # Loads take a fast step per event type once they have met it; a payload that step
    # does not take (a field left to its default) goes the general way, in its place.
    backend = InMemoryBackend()
    now = datetime.now(UTC)
    payloads = [
        {"amount": 1, "note": "a"},
        {"amount": 2},
        {"amount": 3, "note": "b"},
        {"amount": 4},
    ]
    await backend.append("tallies", "t", 0, [NewEvent("Tallied", p, now) for p in payloads])
    domain = Domain(backend, [Tally], cache_size=0)

    for _ in range(2):  # the second load starts with the step already learnt
        tally = await domain.repository(Tally).load("t")
        assert tally.seen == ((0, 1, "a"), (1, 2, ""), (2, 3, "b"), (3, 4, ""))
        assert tally.version == 4


class Diary(Aggregate, stream="notebooks"):
    """A `Notebook` read by a fold that takes meta."""

    entries: tuple[str, ...] = ()

    @folds
    def _noted(self, event: Noted, meta: EventMeta) -> None:
        self.entries = (*self.entries, f"{event.text} in {meta.timestamp.year}")


@pytest.mark.parametrize("aggregate", [Notebook, Diary])
async def test_a_load_reads_the_meta_only_when_a_fold_takes_it(
    aggregate: type[Aggregate], tmp_path: Path
) -> None:
    backend = SqliteBackend(tmp_path / "events.db")
    await backend.create_schema()
    await (
        Domain(backend, aggregates=[Notebook])
        .repository(Notebook)
        .execute("a", Notebook.note, text="hello")
    )
    asked: list[bool] = []
    original = backend.read_aggregate

    async def reading(
        stream: str, aggregate_id: str, *, after_version: int, limit: int, meta: bool = True
    ) -> Sequence[EventRecord]:
        asked.append(meta)
        return await original(
            stream, aggregate_id, after_version=after_version, limit=limit, meta=meta
        )

    backend.read_aggregate = reading  # type: ignore[method-assign]
    domain = Domain(backend, aggregates=[aggregate], cache_size=0)
    try:
        loaded = await domain.repository(aggregate).load("a")
    finally:
        await domain.close()
    assert asked == [aggregate is Diary]
    if isinstance(loaded, Diary):
        assert loaded.entries == (f"hello in {datetime.now(UTC).year}",)
    else:
        assert isinstance(loaded, Notebook) and loaded.notes == ("hello",)


class BeforeMeta(InMemoryBackend):
    """A backend written before `read_aggregate` took `meta`."""

    async def read_aggregate(  # type: ignore[override]
        self, stream: str, aggregate_id: str, *, after_version: int = 0, limit: int = 1000
    ) -> Sequence[EventRecord]:
        return await super().read_aggregate(
            stream, aggregate_id, after_version=after_version, limit=limit
        )


async def test_a_backend_written_before_meta_reads_still_loads() -> None:
    repository = Domain(BeforeMeta(), aggregates=[Notebook], cache_size=0).repository(Notebook)
    await repository.execute("a", Notebook.note, text="hello")
    await repository.execute("a", Notebook.note, text="again")
    assert (await repository.load("a")).notes == ("hello", "again")
