"""Events to JSON and back: the values users store, and clear errors for the rest."""

from __future__ import annotations

import enum
import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import attrs
import pytest

from evtsrc import Event, EventDecodeError, EventEncodeError, UnknownEventType
from evtsrc._codec import Codec
from evtsrc._converter import default_converter
from evtsrc._storable import static_bounds
from evtsrc.backends import EventRecord, UndecodablePayload


class Size(enum.IntEnum):
    S = 1
    L = 3


class Line(Event):
    sku: str
    quantity: int


class Order(Event, type_name="shop.order-placed"):
    lines: tuple[Line, ...]
    total: Decimal
    placed: datetime
    due: date
    ref: UUID
    size: Size
    gift: bool = False
    memo: str | None = None
    extra: list[float] = attrs.Factory(list)


@pytest.fixture
def codec() -> Codec:
    return Codec(default_converter(), [Order, Line])


ORDER = Order(
    lines=(Line("a", 1), Line("b", 2)),
    total=Decimal("10.10"),
    placed=datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=-7))),
    due=date(2025, 2, 1),
    ref=UUID(int=5),
    size=Size.L,
    extra=[0.5],
)


def test_an_event_round_trips_through_json(codec: Codec) -> None:
    type_name, data = codec.encode(ORDER)
    assert type_name == "shop.order-placed"
    text = json.dumps(data)
    assert codec.decode(type_name, json.loads(text)) == ORDER


def test_the_stored_form_is_plain_json(codec: Codec) -> None:
    _, data = codec.encode(ORDER)
    assert data["total"] == "10.10"
    assert data["placed"] == "2025-01-02T03:04:05.000006-07:00"
    assert data["due"] == "2025-02-01"
    assert data["ref"] == str(UUID(int=5))
    assert data["size"] == 3
    assert data["lines"] == [{"sku": "a", "quantity": 1}, {"sku": "b", "quantity": 2}]


def test_naive_datetimes_are_refused(codec: Codec) -> None:
    with pytest.raises(EventEncodeError, match="naive datetime 2025-01-01T00:00:00"):
        codec.encode(attrs.evolve(ORDER, placed=datetime(2025, 1, 1)))
    _, data = codec.encode(ORDER)
    with pytest.raises(EventDecodeError, match="has no timezone"):
        codec.decode("shop.order-placed", dict(data, placed="2025-01-01T00:00:00"))


def test_an_unregistered_event_is_refused(codec: Codec) -> None:
    class Stranger(Event):
        pass

    with pytest.raises(EventEncodeError, match="Stranger is not an event of this domain"):
        codec.encode(Stranger())


def test_unknown_types_and_bad_payloads_are_named(codec: Codec) -> None:
    with pytest.raises(UnknownEventType, match="'Nope' is not registered"):
        codec.decode("Nope", {})
    with pytest.raises(EventDecodeError, match="payload is list, not a JSON object"):
        codec.decode("Line", [])
    with pytest.raises(EventDecodeError, match=r"required field missing @ \$\.quantity"):
        codec.decode("Line", {"sku": "a"})
    with pytest.raises(EventDecodeError, match=r"\$\.quantity"):
        codec.decode("Line", {"sku": "a", "quantity": "lots"})
    _, data = codec.encode(ORDER)
    with pytest.raises(EventDecodeError, match=r"\$\.total"):
        codec.decode("shop.order-placed", dict(data, total="ten"))
    with pytest.raises(EventDecodeError, match=r"\$\.size"):
        codec.decode("shop.order-placed", dict(data, size=2))


def test_a_payload_the_backend_could_not_parse_is_refused_with_its_error(codec: Codec) -> None:
    error = ValueError("Expecting value")
    with pytest.raises(EventDecodeError, match="Line payload cannot be parsed") as raised:
        codec.decode("Line", UndecodablePayload("{oops", error))
    assert raised.value.__cause__ is error and raised.value.type_name == "Line"
    record = EventRecord("s", "a", 3, 17, datetime.now(UTC), "Line", UndecodablePayload("", error))
    with pytest.raises(EventDecodeError) as named:
        codec.decode_record(record)
    assert (named.value.stream, named.value.version, named.value.position) == ("s", 3, 17)
    assert "(s/a v3, position 17)" in str(named.value) and named.value.__cause__ is error


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"sku": 1, "quantity": 1}, "sku"),
        ({"sku": "a", "quantity": "5"}, "quantity"),
        ({"sku": "a", "quantity": 5.7}, "quantity"),
        ({"sku": "a", "quantity": True}, "quantity"),
    ],
)
def test_values_of_the_wrong_json_type_are_not_converted(
    codec: Codec, payload: dict[str, object], field: str
) -> None:
    with pytest.raises(EventDecodeError, match=rf"\$\.{field}"):
        codec.decode("Line", payload)


def test_extra_keys_from_newer_writers_are_ignored(codec: Codec) -> None:
    assert codec.decode("Line", {"sku": "a", "quantity": 1, "added_later": True}) == Line("a", 1)


def test_defaults_fill_fields_older_events_lack(codec: Codec) -> None:
    _, data = codec.encode(ORDER)
    del data["gift"], data["memo"], data["extra"]
    decoded = codec.decode("shop.order-placed", data)
    assert isinstance(decoded, Order)
    assert (decoded.gift, decoded.memo, decoded.extra) == (False, None, [])


def test_a_type_name_is_registered_once() -> None:
    codec = Codec(default_converter(), [Line, Line])
    assert list(codec.classes) == ["Line"]
    assert "Line" in codec.classes and "Order" not in codec.classes


def test_datetimes_keep_their_offset() -> None:
    codec = Codec(default_converter(), [Order])
    utc = attrs.evolve(ORDER, placed=datetime(2025, 1, 1, tzinfo=UTC))
    decoded = codec.decode(*codec.encode(utc))
    assert isinstance(decoded, Order) and decoded.placed.utcoffset() == timedelta(0)


class Measured(Event):
    value: float


def test_nan_and_infinity_are_refused() -> None:
    codec = Codec(default_converter(), [Measured])
    for bad in (float("nan"), float("inf")):
        with pytest.raises(EventEncodeError, match="Measured"):
            codec.encode(Measured(bad))
    assert codec.encode(Measured(1.5)) == ("Measured", {"value": 1.5})


def test_encoding_gives_what_json_text_gives_back(codec: Codec) -> None:
    _, data = codec.encode(ORDER)
    assert data == json.loads(json.dumps(data))
    assert isinstance(data["lines"], list)


@attrs.define
class _Line:
    sku: str
    quantity: int
    note: str | None = None


@attrs.define
class _Order:
    lines: list[_Line]
    tags: frozenset[str]
    pair: tuple[int, _Line] | None


@attrs.define
class _Tree:
    children: list[_Tree]


@pytest.mark.parametrize(
    ("annotation", "bounds"),
    [
        (_Line, (1, False)),
        (_Order, (3, False)),
        (dict[str, int], (1, True)),
        (list[dict[str, _Line]], (3, True)),
        (_Tree, (None, True)),
        (dict[str, Any], (None, True)),
        (list, (None, True)),
    ],
)
def test_static_bounds_say_how_deep_a_typed_value_nests(
    annotation: object, bounds: tuple[int | None, bool]
) -> None:
    # Classes whose values cannot nest past MAX_DEPTH or hold keys that are not strings
    # skip those checks on every encode.
    assert static_bounds(annotation) == bounds
