"""Metadata context and event versions, on the in-memory backend: what the core decides."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import attrs
import pytest

import evtsrc
from evtsrc import (
    MAX_METADATA_BYTES,
    Aggregate,
    DefinitionError,
    Domain,
    Event,
    EventDecodeError,
    EventHandler,
    EventMeta,
    MetadataError,
    command,
    folds,
    metadata_as,
    on_event,
    upcaster,
)
from evtsrc._jsontypes import JSONObject
from evtsrc.backends import InMemoryBackend, NewEvent

from .conformance.model import Counter, One, Two


@attrs.frozen
class RequestInfo:
    user: str
    ip: str | None = None


async def history(domain: Domain, aggregate_id: str = "c") -> list[EventMeta]:
    return [s.meta for s in await domain.repository(Counter).history(aggregate_id)]


@pytest.fixture
def domain() -> Domain:
    return Domain(InMemoryBackend(), aggregates=[Counter])


async def test_typed_metadata_reads_back_as_its_class(domain: Domain) -> None:
    async with evtsrc.context(RequestInfo(user="al", ip="10.0.0.1"), tenant="t1"):
        await domain.repository(Counter).execute("c", Counter.do_one)
    [meta] = await history(domain)
    assert meta.metadata == {"user": "al", "ip": "10.0.0.1", "tenant": "t1"}
    assert metadata_as(meta, RequestInfo) == RequestInfo(user="al", ip="10.0.0.1")


async def test_metadata_that_does_not_fit_the_class_is_named(domain: Domain) -> None:
    async with evtsrc.context(tenant="t1"):
        await domain.repository(Counter).execute("c", Counter.do_one)
    [meta] = await history(domain)
    with pytest.raises(MetadataError, match=r"metadata of one at counters/c version 1 \(pos"):
        metadata_as(meta, RequestInfo)


async def test_an_inner_context_adds_to_the_outer_and_ends_with_its_block(domain: Domain) -> None:
    counters = domain.repository(Counter)
    with evtsrc.context(correlation_id="outer", user="al"):
        with evtsrc.context(correlation_id="inner", step=2):
            await counters.execute("c", Counter.do_one)
        await counters.execute("c", Counter.do_one)
    inner, outer = await history(domain)
    assert (inner.correlation_id, inner.metadata) == ("inner", {"user": "al", "step": 2})
    assert (outer.correlation_id, outer.metadata) == ("outer", {"user": "al"})


async def test_concurrent_tasks_keep_their_own_context(domain: Domain) -> None:
    counters = domain.repository(Counter)

    async def request(name: str) -> None:
        async with evtsrc.context(correlation_id=name):
            await asyncio.sleep(0)
            await counters.execute(name, Counter.do_one)

    await asyncio.gather(*(request(f"r{i}") for i in range(5)))
    for i in range(5):
        [meta] = await history(domain, f"r{i}")
        assert meta.correlation_id == f"r{i}"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: evtsrc.context(correlation_id="x", causation_id=""), "causation_id"),
        (lambda: evtsrc.context({"correlation_id": "x"}), "'correlation_id' is reserved"),
        (lambda: evtsrc.context(event_id="x"), "'event_id' is reserved"),
        (lambda: evtsrc.context(when={1, 2}), "context metadata"),
        (lambda: evtsrc.context(ratio=float("nan")), "context metadata"),
        (lambda: evtsrc.context(note="a\x00b"), "context metadata"),
        (lambda: evtsrc.context(blob="x" * MAX_METADATA_BYTES), "more than the 16384"),
        (lambda: evtsrc.context(5), "attrs instance or a mapping, not int"),  # type: ignore[arg-type]
    ],
)
async def test_metadata_evtsrc_cannot_record_is_refused_before_anything_runs(
    domain: Domain, make: object, message: str
) -> None:
    with pytest.raises(MetadataError, match=message):
        make()  # type: ignore[operator]
    assert await history(domain) == []


class _Echo(EventHandler, name="echo"):
    """Starts a task on the event of "start" that appends after the handler has moved on."""

    def __init__(self, domain: Domain, how: str) -> None:
        self.counters = domain.repository(Counter)
        self.how = how
        self.tasks: list[asyncio.Task[None]] = []

    @on_event
    async def one(self, event: One, meta: EventMeta) -> None:
        if meta.aggregate_id == "start" and self.how == "async":
            self.tasks.append(asyncio.ensure_future(self._later()))

    @on_event
    def two(self, event: Two, meta: EventMeta) -> None:
        if meta.aggregate_id != "start":
            return
        if self.how == "plain":
            self.tasks.append(asyncio.ensure_future(self._later()))
        elif self.how == "plain, passed on":
            with evtsrc.context(caused_by=meta):
                self.tasks.append(asyncio.ensure_future(self._later()))

    async def _later(self) -> None:
        await asyncio.sleep(0.01)
        await self.counters.execute("echo", Counter.do_one)


@pytest.mark.parametrize("how", ["async", "plain", "plain, passed on"])
async def test_a_task_a_callback_starts_has_that_event_as_cause_where_it_can(
    domain: Domain, how: str
) -> None:
    counters = domain.repository(Counter)
    await counters.execute("start", Counter.do_one)
    await counters.execute("start", Counter.do_two)
    for i in range(3):
        await counters.execute(f"other-{i}", Counter.do_one)
        await counters.execute(f"other-{i}", Counter.do_two)
    handler = _Echo(domain, how)
    await domain.handler(handler).run_once()
    assert len(handler.tasks) == 1
    await asyncio.gather(*handler.tasks)
    one, two = await history(domain, "start")
    [echo] = await history(domain, "echo")
    cause = one if how == "async" else two
    if how == "plain":  # a plain callback's task is a task like any other: no cause
        assert echo.causation_id is None
        assert echo.correlation_id == echo.event_id
    else:
        assert (echo.causation_id, echo.correlation_id) == (cause.event_id, cause.correlation_id)


def test_caused_by_takes_the_meta_of_a_stored_event() -> None:
    with pytest.raises(MetadataError, match="caused_by must be an EventMeta, not str"):
        evtsrc.context(caused_by="event-1")  # type: ignore[arg-type]


# Versions and upcasters


class Gappy(Event, type_name="t.gappy", version=3):
    n: int


@upcaster(Gappy, from_version=2)
def _two(data: JSONObject) -> JSONObject:
    return data


class GappyHolder(Aggregate, stream="gappy"):
    @folds
    def _gappy(self, event: Gappy) -> None:
        pass

    @command
    def make(self) -> Gappy:
        return Gappy(n=1)


def test_a_gap_in_the_upcasters_is_refused_when_the_domain_is_built() -> None:
    with pytest.raises(
        DefinitionError, match="Gappy is at version 3 but has no upcaster from version 1"
    ):
        Domain(InMemoryBackend(), aggregates=[GappyHolder])


def test_two_upcasters_for_one_step_are_refused() -> None:
    class Twice(Event, type_name="t.twice", version=2):
        n: int

    @upcaster(Twice, from_version=1)
    def _first(data: JSONObject) -> JSONObject:
        return data

    with pytest.raises(
        DefinitionError, match="two upcasters from version 1: .*_first and .*_second"
    ):

        @upcaster(Twice, from_version=1)
        def _second(data: JSONObject) -> JSONObject:
            return data


@pytest.mark.parametrize("version", [0, 2, "1"])
def test_an_upcaster_step_must_lie_below_the_class_version(version: object) -> None:
    class Short(Event, type_name="t.short", version=2):
        n: int

    with pytest.raises(DefinitionError, match="from_version must be an int from 1 to 1"):
        upcaster(Short, from_version=version)  # type: ignore[arg-type]


@pytest.mark.parametrize("version", [0, -1, "2", 1.0])
def test_an_event_version_is_a_positive_int(version: object) -> None:
    with pytest.raises(DefinitionError, match="version must be an int of 1 or more"):

        class Bad(Event, type_name="t.bad", version=version):  # type: ignore[arg-type]
            n: int


def test_aliases_are_names_and_may_not_be_a_string() -> None:
    with pytest.raises(DefinitionError, match="aliases must be a collection of type names"):

        class Stringy(Event, type_name="t.stringy", aliases="t.old"):  # type: ignore[arg-type]
            n: int

    with pytest.raises(DefinitionError, match="type name 'no spaces' must be"):

        class Spaced(Event, type_name="t.spaced", aliases=("no spaces",)):
            n: int


class Taken(Event, type_name="t.taken"):
    n: int


class Taker(Event, type_name="t.taker", aliases=("t.taken",)):
    n: int


class Both(Aggregate, stream="both"):
    @folds
    def _taken(self, event: Taken | Taker) -> None:
        pass

    @command
    def make(self) -> Taken:
        return Taken(n=1)


def test_an_alias_may_not_name_another_event() -> None:
    with pytest.raises(
        DefinitionError,
        match=r"'t.taken' is used by both .*Tak\w+ and .*Tak\w+ \(as an alias of Taker\)",
    ):
        Domain(InMemoryBackend(), aggregates=[Both])


class Sized(Event, type_name="t.sized", version=2, aliases=("t.size",)):
    size: int


@upcaster(Sized, from_version=1)
def _size_from_text(data: JSONObject) -> JSONObject:
    text = data.pop("size")  # changes what it is given: the store must not see it
    if text == "object":
        return []  # type: ignore[return-value]
    if text == "boom":
        raise ValueError("cannot read 'boom'")
    assert isinstance(text, str)
    return {"size": int(text)}


class Box(Aggregate, stream="boxes"):
    sizes: tuple[int, ...] = ()

    @folds
    def _sized(self, event: Sized) -> None:
        self.sizes = (*self.sizes, event.size)

    @command
    def resize(self, size: int) -> Sized:
        return Sized(size=size)


class SizeLog(EventHandler, name="size-log"):
    def __init__(self) -> None:
        self.seen: list[tuple[int, str, int]] = []

    @on_event
    def sized(self, event: Sized, meta: EventMeta) -> None:
        self.seen.append((event.size, meta.type_name, meta.event_version))


async def _old(backend: InMemoryBackend, version: int, size: str, *, name: str = "t.size") -> None:
    event = NewEvent(name, {"size": size}, datetime.now(UTC), event_version=1)
    await backend.append("boxes", "b", version, [event])


async def test_loads_history_and_handlers_read_old_events_upcast() -> None:
    backend = InMemoryBackend()
    domain = Domain(backend, aggregates=[Box])
    await _old(backend, 0, "3")
    await _old(backend, 1, "4", name="t.sized")
    await domain.repository(Box).execute("b", Box.resize, size=5)
    assert (await domain.repository(Box).load("b")).sizes == (3, 4, 5)
    assert (await domain.repository(Box).load("b")).sizes == (3, 4, 5)  # the store kept "3"
    assert [s.event for s in await domain.repository(Box).history("b")] == [
        Sized(size=3),
        Sized(size=4),
        Sized(size=5),
    ]
    log = SizeLog()
    await domain.handler(log).run_once()
    assert log.seen == [(3, "t.size", 1), (4, "t.sized", 1), (5, "t.sized", 2)]
    [first, *_] = await backend.read_aggregate("boxes", "b")
    assert first.data == {"size": "3"}


@pytest.mark.parametrize(
    ("stored", "message"),
    [
        (
            "object",
            "upcaster _size_from_text of Sized from version 1 returned list, not a JSON object",
        ),
        (
            "boom",
            "upcaster _size_from_text of Sized from version 1 raised ValueError: cannot read",
        ),
    ],
)
async def test_an_upcaster_that_fails_is_named_with_the_event(stored: str, message: str) -> None:
    backend = InMemoryBackend()
    domain = Domain(backend, aggregates=[Box])
    await _old(backend, 0, stored)
    with pytest.raises(EventDecodeError, match=message) as raised:
        await domain.repository(Box).load("b")
    assert (raised.value.stream, raised.value.version, raised.value.position) == ("boxes", 1, 1)
