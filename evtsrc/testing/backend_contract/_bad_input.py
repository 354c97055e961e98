"""Bad input gets a clear error naming what is wrong, and nothing stored is harmed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

import attrs
import pytest

from evtsrc import (
    Aggregate,
    CorruptStreamError,
    Domain,
    Event,
    EventDecodeError,
    EventEncodeError,
    HandlerError,
    InvalidAggregateId,
    Snapshots,
    UnknownEventType,
    command,
    folds,
)
from evtsrc._storable import MAX_DEPTH
from evtsrc.backends import Backend, NewEvent

from ._base import ContractBase
from ._model import Address, Colour, Counter, Rich, Seen


def _raw(type_name: str, data: dict[str, object]) -> NewEvent:
    return NewEvent(type_name, data, datetime.now(UTC))  # type: ignore[arg-type]


# Input no backend can store, refused the same way on every backend before anything is sent.


class Noted(Event, type_name="bad-input.noted"):
    text: str


class Filed(Event, type_name="bad-input.filed"):
    fields: dict[str, Any]


class Added(Event, type_name="bad-input.added"):
    n: int


class Note(Aggregate, stream="bad-input-notes"):
    text: str = ""
    fields: dict[str, Any] = attrs.field(factory=dict[str, Any])
    total: int = 0

    @folds
    def _noted(self, event: Noted) -> None:
        self.text = event.text

    @folds
    def _filed(self, event: Filed) -> None:
        self.fields = event.fields

    @folds
    def _added(self, event: Added) -> None:
        self.total += event.n

    @command
    def note(self, text: str) -> Noted:
        return Noted(text=text)

    @command
    def file(self, fields: dict[str, Any]) -> Filed:
        return Filed(fields=fields)

    @command
    def add(self, n: int) -> Added:
        return Added(n=n)


class WrappedNote(Note, stream="bad-input-wrapped", snapshots=Snapshots(every=1)):
    """Its state nests one level deeper than the events it folds."""

    @folds
    def _filed(self, event: Filed) -> None:
        self.fields = {"wrapped": event.fields}


async def _nothing_appended(domain: Domain, aggregate_id: str = "n") -> None:
    """The aggregate is still at the version 1 it was given, with one event stored."""
    assert (await domain.repository(Note).load(aggregate_id)).version == 1
    stored = await domain.backend.read_streams(["bad-input-notes"])
    assert [(r.aggregate_id, r.version) for r in stored] == [(aggregate_id, 1)]


def _nested(depth: int) -> dict[str, Any]:
    """A `fields` value that makes a Filed payload `depth` levels deep (the payload is one)."""
    value: Any = "bottom"
    for _ in range(depth - 2):
        value = [value]
    return {"deep": value}


class BadInputContract(ContractBase):
    """Bad input gets a clear error naming what is wrong, and nothing stored is harmed."""

    async def test_an_unknown_stored_type_is_named_with_its_place(self, domain: Domain) -> None:
        await domain.backend.append("counters", "c", 0, [_raw("one", {}), _raw("renamed-away", {})])
        with pytest.raises(UnknownEventType) as raised:
            await domain.repository(Counter).load("c")
        message = str(raised.value)
        assert "'renamed-away'" in message and "counters/c v2" in message
        assert (raised.value.version, raised.value.type_name) == (2, "renamed-away")

    async def test_a_malformed_payload_names_the_field(self, domain: Domain) -> None:
        await domain.backend.append("counters", "c", 0, [_raw("version-seen", {"version": "many"})])
        with pytest.raises(EventDecodeError) as raised:
            await domain.repository(Counter).history("c")
        message = str(raised.value)
        assert "version-seen" in message and "version" in message and "counters/c v1" in message
        assert not isinstance(raised.value, UnknownEventType)

    async def test_a_missing_field_is_named(self, domain: Domain) -> None:
        await domain.backend.append("counters", "c", 0, [_raw("version-seen", {})])
        with pytest.raises(EventDecodeError, match="version"):
            await domain.repository(Counter).load("c")

    async def test_a_handler_stops_at_an_undecodable_event(self, domain: Domain) -> None:
        await domain.repository(Counter).execute("a", Counter.do_one)
        await domain.backend.append("counters", "b", 0, [_raw("two", []), _raw("three", {})])  # type: ignore[arg-type]
        runner = domain.handler(Seen())
        with pytest.raises(HandlerError) as raised:
            await runner.run_once()
        assert isinstance(raised.value.__cause__, EventDecodeError)
        assert "not a JSON object" in str(raised.value)
        assert [row[3] for row in runner.handler.log] == ["one"]

    async def test_an_unknown_type_in_a_handled_stream_is_passed_over(self, domain: Domain) -> None:
        await domain.backend.append(
            "counters", "a", 0, [_raw("from-the-future", {}), _raw("one", {})]
        )
        runner = domain.handler(Seen())
        assert await runner.run_once() == 1
        assert [row[3] for row in runner.handler.log] == ["one"]

    async def test_wrong_command_arguments_are_named_and_nothing_is_stored(
        self, domain: Domain
    ) -> None:
        counters = domain.repository(Counter)
        with pytest.raises(
            TypeError, match=r"Counter\.do_one\(\).*unexpected keyword argument 'x'"
        ):
            await counters.execute("c", Counter.do_one, x=1)  # type: ignore[call-arg]
        with pytest.raises(TypeError, match=r"Counter\.do_rich\(\).*missing a required argument"):
            await counters.execute("c", Counter.do_rich)  # type: ignore[call-arg]
        assert await counters.history("c") == []

    async def test_a_method_that_is_not_a_command_is_refused(self, domain: Domain) -> None:
        with pytest.raises(TypeError, match="not a @command of Counter"):
            await domain.repository(Counter).execute("c", Counter._one)  # type: ignore[call-arg]

    async def test_an_event_that_cannot_be_stored_is_refused_before_anything_is(
        self, domain: Domain
    ) -> None:
        naive = Rich(
            text="t",
            number=1,
            ratio=1.0,
            flag=False,
            amount=Decimal(1),
            at=datetime(2024, 1, 1),
            day=datetime(2024, 1, 1).date(),
            key=uuid4(),
            colour=Colour.RED,
            tags=(),
            scores=[],
            note=None,
            home=Address(street="s", city="c"),
        )
        with pytest.raises(EventEncodeError, match="naive datetime"):
            await domain.repository(Counter).execute("c", Counter.do_rich, naive)
        assert await domain.repository(Counter).history("c") == []

    @pytest.mark.parametrize("bad", ["", 7, None, "x" * 201])
    async def test_an_aggregate_id_must_be_a_non_empty_string(
        self, domain: Domain, bad: object
    ) -> None:
        with pytest.raises(ValueError, match="aggregate id"):
            await domain.repository(Counter).load(bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="aggregate id"):
            await domain.repository(Counter).execute(bad, Counter.do_one)  # type: ignore[arg-type]

    async def test_a_gap_in_stored_versions_is_reported(
        self, domain: Domain, backend: Backend
    ) -> None:
        await backend.append("counters", "c", 0, [_raw("one", {})])
        repo = domain.repository(Counter)
        original = backend.read_aggregate

        async def skipping(*args: object, **kwargs: object) -> object:
            records = await original(*args, **kwargs)  # type: ignore[arg-type]
            return [r for r in records if r.version != 1]

        backend.read_aggregate = skipping  # type: ignore[method-assign,assignment]
        await backend.append("counters", "c", 1, [_raw("two", {})])
        with pytest.raises(CorruptStreamError, match="version 2 follows version 0"):
            await repo.load("c")

    @pytest.fixture
    def notes_domain(self, backend: Backend) -> Domain:
        return Domain(backend, aggregates=[Note, WrappedNote])

    @pytest.mark.parametrize(
        ("bad", "problem"),
        [("a\x00b", "NUL character"), ("\ud800", "surrogate"), ("ok\udfffok", "surrogate")],
        ids=["nul", "surrogate", "inner-surrogate"],
    )
    async def test_an_id_no_backend_can_store_is_refused_before_anything_is_sent(
        self, notes_domain: Domain, bad: str, problem: str
    ) -> None:
        notes = notes_domain.repository(Note)
        await notes.execute("n", Note.add, n=1)
        calls: list[Callable[[], Awaitable[object]]] = [
            lambda: notes.load(bad),
            lambda: notes.history(bad),
            lambda: notes.execute(bad, Note.add, n=1),
        ]
        for call in calls:
            with pytest.raises(InvalidAggregateId, match=f"aggregate id .*{problem}") as raised:
                await call()
            assert isinstance(raised.value, ValueError)
        await _nothing_appended(notes_domain)

    @pytest.mark.parametrize(
        ("command", "argument", "where", "problem"),
        [
            (Note.note, "a\x00b", "text", "NUL character"),
            (Note.note, "\ud800", "text", "surrogate"),
            (Note.file, {"k": ["ok", "a\x00"]}, r"fields\.k\[1\]", "NUL character"),
            (Note.file, {"k": {"x\x00y": 1}}, r"fields\.k", "NUL character"),
            (Note.file, {"\udc80": 1}, "fields", "surrogate"),
        ],
        ids=["nul", "surrogate", "nested-nul", "nul-in-key", "surrogate-in-key"],
    )
    async def test_a_string_no_backend_can_store_is_refused_before_anything_is_sent(
        self, notes_domain: Domain, command: Any, argument: object, where: str, problem: str
    ) -> None:
        notes = notes_domain.repository(Note)
        await notes.execute("n", Note.add, n=1)
        with pytest.raises(EventEncodeError, match=f"{where}: .*{problem}") as raised:
            await notes.execute("n", command, argument)
        assert ("Noted" if command is Note.note else "Filed") in str(raised.value)
        await _nothing_appended(notes_domain)

    async def test_nesting_deeper_than_the_limit_is_refused_before_anything_is_sent(
        self,
        notes_domain: Domain,
    ) -> None:
        notes = notes_domain.repository(Note)
        at_limit = await notes.execute("n", Note.file, _nested(MAX_DEPTH))
        assert (await notes_domain.repository(Note).load("n")).fields == at_limit.fields
        too_deep = _nested(MAX_DEPTH + 1)
        with pytest.raises(EventEncodeError, match=rf"Filed: fields\.deep.* more than {MAX_DEPTH}"):
            await notes.execute("n", Note.file, too_deep)
        await _nothing_appended(notes_domain)

    async def test_a_snapshot_state_nested_too_deep_is_not_sent(
        self, notes_domain: Domain, caplog: pytest.LogCaptureFixture
    ) -> None:
        wrapped = notes_domain.repository(WrappedNote)
        # The event is at the limit, the state folded from it one level deeper.
        stored = await wrapped.execute("w", WrappedNote.file, _nested(MAX_DEPTH))
        assert stored.version == 1
        assert await notes_domain.backend.get_snapshot("bad-input-wrapped", "w") is None
        assert f"more than {MAX_DEPTH}" in caplog.text and "WrappedNote state" in caplog.text
        assert (await wrapped.load("w")).fields == stored.fields

    async def test_a_wrong_argument_type_names_the_command_and_nothing_is_stored(
        self,
        notes_domain: Domain,
    ) -> None:
        notes = notes_domain.repository(Note)
        await notes.execute("n", Note.add, n=1)
        with pytest.raises(EventEncodeError) as raised:
            await notes.execute("n", Note.add, n="1")  # type: ignore[arg-type]
        message = str(raised.value)
        assert "Note.add returned Added(n='1') that does not match its class" in message
        assert "n: " in message and "expected an integer, got str" in message
        assert "stored" not in message
        await _nothing_appended(notes_domain)

    @pytest.mark.parametrize(
        ("fields", "where", "key"),
        [({1: "x"}, "fields", "1"), ({"a": [{2.5: "x"}]}, r"fields\.a\[0\]", "2.5")],
        ids=["int-key", "nested-float-key"],
    )
    async def test_a_key_that_is_not_a_string_is_refused_before_anything_is_sent(
        self, notes_domain: Domain, fields: dict[Any, Any], where: str, key: str
    ) -> None:
        notes = notes_domain.repository(Note)
        await notes.execute("n", Note.add, n=1)
        with pytest.raises(EventEncodeError, match=rf"Filed: {where}: key {key} .*not a string"):
            await notes.execute("n", Note.file, fields)
        await _nothing_appended(notes_domain)
