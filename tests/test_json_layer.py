"""The JSON layer on msgspec keeps every rule the standard library's gave.

msgspec writes what the standard library refused (NaN as null, a datetime or a set as
JSON) and reads what it read differently (integers past 64 bits): each rule is held
here, through evtsrc's own converter and through a user's.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import cattrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from evtsrc import Aggregate, Domain, Event, EventEncodeError, command, folds
from evtsrc._codec import Codec
from evtsrc._converter import default_converter
from evtsrc._storable import MAX_DEPTH, within_depth
from evtsrc.backends import SqliteBackend
from evtsrc.backends._support.jsontext import dumps, loads


class Counted(Event, type_name="json.counted"):
    number: int


class Sampled(Event, type_name="json.sampled"):
    values: list[float]
    maybe: float | None = None


class Blob(Event, type_name="json.blob"):
    raw: bytes


@attrs.frozen
class Money:
    cents: int
    currency: str


class Paid(Event, type_name="json.paid"):
    amount: Money
    at: datetime


class Till(Aggregate, stream="tills"):
    total: int = 0
    last: int = 0

    @folds
    def _paid(self, event: Paid) -> None:
        self.total += event.amount.cents

    @folds
    def _counted(self, event: Counted) -> None:
        self.last = event.number

    @command
    def pay(self, cents: int) -> Paid:
        return Paid(Money(cents, "EUR"), datetime(2025, 1, 2, tzinfo=UTC))

    @command
    def count(self, number: int) -> Counted:
        return Counted(number)


def _money_converter(calls: list[str]) -> cattrs.Converter:
    """A user's converter: money as "12.50 EUR", each hook call noted in `calls`."""
    converter = cattrs.Converter()

    def money_out(money: Money) -> str:
        calls.append("out")
        return f"{Decimal(money.cents) / 100} {money.currency}"

    def money_in(text: object, _: type[Money]) -> Money:
        calls.append("in")
        assert isinstance(text, str)
        amount, currency = text.split()
        return Money(int(Decimal(amount) * 100), currency)

    converter.register_unstructure_hook(Money, money_out)
    converter.register_structure_hook(Money, money_in)
    converter.register_unstructure_hook(datetime, datetime.isoformat)
    converter.register_structure_hook(datetime, lambda text, _: datetime.fromisoformat(text))
    return converter


@pytest.mark.parametrize("number", [2**62, 2**63 - 1, -(2**63), 2**64, 2**70, -(2**100)])
def test_integers_of_any_size_are_read_back_exactly(number: int) -> None:
    codec = Codec(default_converter(), [Counted], plain=True)
    type_name, data = codec.encode(Counted(number))
    text = dumps(data)
    assert text == f'{{"number":{number}}}'
    read = codec.decode(type_name, loads(text))
    assert read == Counted(number) and type(read.number) is int  # never a float


async def test_integers_past_64_bits_are_stored_and_loaded_on_sqlite(tmp_path: Path) -> None:
    backend = SqliteBackend(tmp_path / "events.db")
    await backend.create_schema()
    try:
        await Domain(backend, aggregates=[Till]).repository(Till).execute("t", Till.count, 2**70)
        fresh = Domain(backend, aggregates=[Till], cache_size=0).repository(Till)
        assert (await fresh.load("t")).last == 2**70
    finally:
        await backend.close()


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_are_refused_wherever_they_are(bad: float) -> None:
    codec = Codec(default_converter(), [Sampled], plain=True)
    with pytest.raises(EventEncodeError, match=r"Sampled: values\[1\]: .* not a finite number"):
        codec.encode(Sampled([1.0, bad]))
    with pytest.raises(EventEncodeError, match="Sampled: maybe: .* not a finite number"):
        codec.encode(Sampled([], maybe=bad))
    fine = {"values": [0.5], "maybe": None}
    assert codec.encode(Sampled([0.5], maybe=None)) == ("json.sampled", fine)


def test_jsontext_never_writes_nan_as_null() -> None:
    # Backends write NaN as the standard library did; the codec refuses it before that.
    assert math.isnan(loads(dumps({"x": math.nan}))["x"])  # type: ignore[arg-type]
    assert loads(dumps({"x": None})) == {"x": None}


def test_text_is_kept_as_it_is() -> None:
    text = 'Zoë “quoted” \\ \n 🎉 \u0001 "json"'
    assert dumps({"t": text}) == '{"t":"Zoë “quoted” \\\\ \\n 🎉 \\u0001 \\"json\\""}'
    assert loads(dumps({"t": text})) == {"t": text}


def test_bytes_are_stored_as_before_in_base85() -> None:
    codec = Codec(default_converter(), [Blob], plain=True)
    _, data = codec.encode(Blob(b"\x00\xff evtsrc"))
    assert data == {"raw": "0RJFmc64)cV*"}  # what the standard library's converter wrote
    assert codec.decode("json.blob", data) == Blob(b"\x00\xff evtsrc")


async def test_a_users_converter_and_its_hooks_are_honoured(tmp_path: Path) -> None:
    calls: list[str] = []
    backend = SqliteBackend(tmp_path / "events.db")
    await backend.create_schema()
    try:
        tills = Domain(backend, aggregates=[Till], converter=_money_converter(calls))
        await tills.repository(Till).execute("t", Till.pay, 1250)
        [stored] = await backend.read_aggregate("tills", "t")
        assert stored.data == {"amount": "12.5 EUR", "at": "2025-01-02T00:00:00+00:00"}
        calls.clear()
        fresh = Domain(backend, aggregates=[Till], converter=_money_converter(calls), cache_size=0)
        assert (await fresh.repository(Till).load("t")).total == 1250
        assert calls == ["in"]
    finally:
        await backend.close()


def test_a_value_a_users_converter_leaves_unconverted_is_refused() -> None:
    # msgspec would write the datetime as a string; the standard library refused it, and so
    # does evtsrc: the converter is asked to say how it is stored.
    converter = cattrs.Converter()
    converter.register_unstructure_hook(Money, lambda money: money.cents)
    converter.register_structure_hook(datetime, lambda text, _: datetime.fromisoformat(text))
    codec = Codec(converter, [Paid])
    with pytest.raises(EventEncodeError, match="Paid: at: datetime .* is not a JSON value"):
        codec.encode(Paid(Money(1, "EUR"), datetime(2025, 1, 2, tzinfo=UTC)))


def test_the_default_converter_is_msgspecs_preconfigured_one() -> None:
    from cattrs.preconf.msgspec import MsgspecJsonConverter

    assert isinstance(default_converter(), MsgspecJsonConverter)


class Filed(Event, type_name="json.filed"):
    fields: dict[str, Any]


def _nested(depth: int) -> dict[str, Any]:
    """A `fields` value making a Filed payload `depth` levels deep (the payload is one)."""
    value: Any = "bottom [ { \\" + '"'
    for _ in range(depth - 2):
        value = [value]
    return {"deep": value}


@pytest.mark.parametrize("plain", [True, False])
def test_nesting_is_limited_to_max_depth(plain: bool) -> None:
    codec = Codec(default_converter(), [Filed], plain=plain)
    assert codec.encode(Filed(_nested(MAX_DEPTH)))[1] == {"fields": _nested(MAX_DEPTH)}
    with pytest.raises(EventEncodeError, match=rf"Filed: fields\.deep.* more than {MAX_DEPTH}"):
        codec.encode(Filed(_nested(MAX_DEPTH + 1)))
    with pytest.raises(EventEncodeError, match=f"more than {MAX_DEPTH}"):
        codec.encode(Filed(_nested(5000)))  # past what msgspec writes: a RecursionError


@given(depth=st.integers(min_value=1, max_value=MAX_DEPTH + 3), text=st.text(max_size=5))
def test_the_depth_search_reads_text_and_its_utf8_alike(depth: int, text: str) -> None:
    value: Any = text
    for _ in range(depth):
        value = [value]
    written = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    utf8 = written.encode(errors="surrogatepass")
    assert within_depth(written) == within_depth(utf8)
    if within_depth(utf8):
        assert depth <= MAX_DEPTH
