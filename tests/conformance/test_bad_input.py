"""Bad input gets a clear error naming what is wrong, and nothing stored is harmed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from evtsrc import (
    CorruptStreamError,
    Domain,
    EventDecodeError,
    EventEncodeError,
    HandlerError,
    UnknownEventType,
)
from evtsrc.backends import Backend, NewEvent

from .model import Counter, Seen


def _raw(type_name: str, data: dict[str, object]) -> NewEvent:
    return NewEvent(type_name, data, datetime.now(UTC))  # type: ignore[arg-type]


async def test_an_unknown_stored_type_is_named_with_its_place(domain: Domain) -> None:
    await domain.backend.append("counters", "c", 0, [_raw("one", {}), _raw("renamed-away", {})])
    with pytest.raises(UnknownEventType) as raised:
        await domain.repository(Counter).load("c")
    message = str(raised.value)
    assert "'renamed-away'" in message and "counters/c v2" in message
    assert (raised.value.version, raised.value.type_name) == (2, "renamed-away")


async def test_a_malformed_payload_names_the_field(domain: Domain) -> None:
    await domain.backend.append("counters", "c", 0, [_raw("version-seen", {"version": "many"})])
    with pytest.raises(EventDecodeError) as raised:
        await domain.repository(Counter).history("c")
    message = str(raised.value)
    assert "version-seen" in message and "version" in message and "counters/c v1" in message
    assert not isinstance(raised.value, UnknownEventType)


async def test_a_missing_field_is_named(domain: Domain) -> None:
    await domain.backend.append("counters", "c", 0, [_raw("version-seen", {})])
    with pytest.raises(EventDecodeError, match="version"):
        await domain.repository(Counter).load("c")


async def test_a_handler_stops_at_an_undecodable_event(domain: Domain) -> None:
    await domain.repository(Counter).execute("a", Counter.do_one)
    await domain.backend.append("counters", "b", 0, [_raw("two", []), _raw("three", {})])  # type: ignore[list-item]
    runner = domain.handler(Seen())
    with pytest.raises(HandlerError) as raised:
        await runner.run_once()
    assert isinstance(raised.value.__cause__, EventDecodeError)
    assert "not a JSON object" in str(raised.value)
    assert [row[3] for row in runner.handler.log] == ["one"]


async def test_an_unknown_type_in_a_handled_stream_is_passed_over(domain: Domain) -> None:
    await domain.backend.append("counters", "a", 0, [_raw("from-the-future", {}), _raw("one", {})])
    runner = domain.handler(Seen())
    assert await runner.run_once() == 1
    assert [row[3] for row in runner.handler.log] == ["one"]


async def test_wrong_command_arguments_are_named_and_nothing_is_stored(domain: Domain) -> None:
    counters = domain.repository(Counter)
    with pytest.raises(TypeError, match=r"Counter\.do_one\(\).*unexpected keyword argument 'x'"):
        await counters.execute("c", Counter.do_one, x=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"Counter\.do_rich\(\).*missing a required argument"):
        await counters.execute("c", Counter.do_rich)  # type: ignore[call-arg]
    assert await counters.history("c") == []


async def test_a_method_that_is_not_a_command_is_refused(domain: Domain) -> None:
    with pytest.raises(TypeError, match="not a @command of Counter"):
        await domain.repository(Counter).execute("c", Counter._one)  # type: ignore[arg-type]


async def test_an_event_that_cannot_be_stored_is_refused_before_anything_is(domain: Domain) -> None:
    from .model import Address, Colour, Rich

    naive = Rich(
        text="t",
        number=1,
        ratio=1.0,
        flag=False,
        amount=__import__("decimal").Decimal(1),
        at=datetime(2024, 1, 1),
        day=datetime(2024, 1, 1).date(),
        key=__import__("uuid").uuid4(),
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
async def test_an_aggregate_id_must_be_a_non_empty_string(domain: Domain, bad: object) -> None:
    with pytest.raises(ValueError, match="aggregate id"):
        await domain.repository(Counter).load(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="aggregate id"):
        await domain.repository(Counter).execute(bad, Counter.do_one)  # type: ignore[arg-type]


async def test_a_gap_in_stored_versions_is_reported(domain: Domain, backend: Backend) -> None:
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
