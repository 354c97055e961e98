"""evtsrc's cattrs converter (msgspec's preconfigured one): JSON-safe, strict about types."""

from __future__ import annotations

from base64 import b85decode, b85encode
from collections import Counter
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any
from uuid import UUID

import attrs
import cattrs
from cattrs.preconf.msgspec import make_converter

from ._errors import EventEncodeError


def _datetime_out(value: datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise EventEncodeError(
            f"naive datetime {value.isoformat()} cannot be stored: give it a timezone"
        )
    return value.isoformat()


def _datetime_in(value: object, _: type[datetime]) -> datetime:
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO 8601 string, got {type(value).__name__}")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"stored datetime {value!r} has no timezone")
    return parsed


def _decimal_in(value: object, _: type[Decimal]) -> Decimal:
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise TypeError(f"expected a decimal string, got {type(value).__name__}")
    try:
        return Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a decimal number") from None


def _date_in(value: object, _: type[date]) -> date:
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO 8601 date string, got {type(value).__name__}")
    return date.fromisoformat(value)


def _uuid_in(value: object, _: type[UUID]) -> UUID:
    if not isinstance(value, str):
        raise TypeError(f"expected a UUID string, got {type(value).__name__}")
    return UUID(value)


def _bytes_out(value: bytes) -> str:
    return b85encode(value).decode()


def _bytes_in(value: object, _: type[bytes]) -> bytes:
    if not isinstance(value, str):
        raise TypeError(f"expected a base85 string, got {type(value).__name__}")
    return b85decode(value)


def _attrs_fields(cls: type, converter: cattrs.Converter) -> Callable[[Any], dict[str, Any]]:
    return converter.gen_unstructure_attrs_fromdict(cls)


def _is_enum(cls: object) -> bool:
    return isinstance(cls, type) and issubclass(cls, Enum)


def _enum_value(_: type) -> Callable[[Enum], Any]:
    return _value_of


def _value_of(member: Enum) -> Any:
    return member.value


def _strict(kind: type, accepted: tuple[type, ...], label: str) -> Callable[[object, type], Any]:
    """A structure hook that refuses to convert between JSON types.

    Subclasses (IntEnum, StrEnum, str-mixin enums) are built from the checked value.
    """

    def hook(value: object, cls: type) -> Any:
        if not isinstance(value, accepted) or (kind is not bool and isinstance(value, bool)):
            raise TypeError(f"expected {label}, got {type(value).__name__}")
        return value if cls is kind and type(value) is kind else cls(value)

    return hook


def default_converter() -> cattrs.Converter:
    """The converter evtsrc uses unless given one: JSON-safe, strict about time zones.

    It is cattrs' preconfigured converter for msgspec, with evtsrc's hooks.
    Decimal, UUID, date and aware datetime are stored as strings, bytes as base85;
    tuples, lists and sets as JSON arrays; enums by value; nested attrs classes as
    objects (their fields only).
    Reading is strict: a stored value of the wrong JSON type is an error, never
    converted (no "5" read as 5, no 5.7 truncated to 5).
    """
    # msgspec's: what needs no hook, msgspec writes directly. Sets become lists, as JSON has them.
    converter = make_converter(unstruct_collection_overrides={AbstractSet: list, Counter: dict})
    # An attrs instance as cattrs unstructures it: its fields only (msgspec would take every
    # attribute, an aggregate's id and version too), each through its own hook.
    converter.register_unstructure_hook_factory(attrs.has, _attrs_fields)
    converter.register_unstructure_hook_factory(_is_enum, _enum_value)  # the value: JSON
    converter.register_structure_hook(str, _strict(str, (str,), "a string"))
    converter.register_structure_hook(int, _strict(int, (int,), "an integer"))
    converter.register_structure_hook(float, _strict(float, (int, float), "a number"))
    converter.register_structure_hook(bool, _strict(bool, (bool,), "true or false"))
    converter.register_unstructure_hook(datetime, _datetime_out)
    converter.register_structure_hook(datetime, _datetime_in)
    converter.register_unstructure_hook(Decimal, str)
    converter.register_structure_hook(Decimal, _decimal_in)
    converter.register_unstructure_hook(date, date.isoformat)
    converter.register_structure_hook(date, _date_in)
    converter.register_unstructure_hook(UUID, str)
    converter.register_structure_hook(UUID, _uuid_in)
    # As the standard library's preconfigured converter stored them (msgspec's uses base64).
    converter.register_unstructure_hook(bytes, _bytes_out)
    converter.register_structure_hook(bytes, _bytes_in)
    return converter
