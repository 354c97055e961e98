"""Hypothesis strategies that generate events, for property tests of folds and codecs.

Needs hypothesis (`pip install 'evtsrc[testing]'`):

```python
import hypothesis.strategies as st
from hypothesis import given as for_all

from evtsrc.testing.strategies import event_histories, events


@for_all(event_histories(User))
def test_something(history: list[Event]) -> None: ...


names = events(UserCreated, name=st.text(min_size=1))
```

Values are generated from the events' field annotations so that every event
survives the domain's JSON encoding: strings without lone surrogates or NUL
characters, 64-bit integers, finite floats and decimals, timezone-aware
datetimes with fixed offsets, collections of up to `MAX_ITEMS` items.
Nothing is registered with hypothesis globally.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Mapping, MutableMapping, MutableSequence, MutableSet, Sequence
from collections.abc import Set as AbstractSet
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, TypeVar, cast
from uuid import UUID

import attrs
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from .._aggregate import Aggregate
from .._converter import default_converter
from .._definition import AggregateSpec
from .._events import Event
from .._jsontypes import JSONObject

EventT = TypeVar("EventT", bound=Event)

MAX_ITEMS = 6
"""The most items a generated list, tuple, set or dict holds."""

_TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters=["\x00"]))
_OFFSETS = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
_SIMPLE: dict[Any, SearchStrategy[Any]] = {
    str: _TEXT,
    bool: st.booleans(),
    int: st.integers(min_value=-(2**63), max_value=2**63 - 1),
    float: st.floats(allow_nan=False, allow_infinity=False),
    bytes: st.binary(max_size=32),
    Decimal: st.decimals(allow_nan=False, allow_infinity=False),
    datetime: st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.one_of(st.just(UTC), _OFFSETS),
    ),
    date: st.dates(),
    UUID: st.uuids(),
    type(None): st.none(),
}
_PAYLOADS = default_converter()
_LISTS = {list, MutableSequence}
_SETS = {set, AbstractSet, MutableSet}
_MAPPINGS = {dict, Mapping, MutableMapping}


def events(cls: type[EventT], /, **fields: SearchStrategy[Any]) -> SearchStrategy[EventT]:
    """Instances of the event class `cls`, with values derived from its field annotations.

    Give a strategy for a field by name to replace the derived one, e.g. for a
    field whose validator accepts only some values. Raises `TypeError`
    for a field type it cannot derive values for.
    """
    if not (isinstance(cls, type) and issubclass(cls, Event)) or cls is Event:
        raise TypeError(f"events() takes an Event subclass, not {cls!r}")
    return _instances(cls, fields, ())


def events_of(
    aggregate: type[Aggregate],
    /,
    *,
    overrides: Mapping[type[Any], SearchStrategy[Event]] | None = None,
) -> SearchStrategy[Event]:
    """Any event that `aggregate` folds (or one of its commands returns).

    `overrides` replaces the strategy of some event classes, e.g.
    `{UserCreated: events(UserCreated, name=st.just("Ann"))}`.
    """
    if not (isinstance(aggregate, type) and issubclass(aggregate, Aggregate)):
        raise TypeError(f"events_of() takes an Aggregate subclass, not {aggregate!r}")
    classes = sorted(
        AggregateSpec(aggregate).event_classes, key=lambda c: (c.__module__, c.__qualname__)
    )
    chosen = dict(overrides or {})
    unknown = [c for c in chosen if c not in classes]
    if unknown:
        raise TypeError(
            f"{aggregate.__qualname__} has no events of class "
            + ", ".join(getattr(c, "__qualname__", repr(c)) for c in unknown)
        )
    if not classes:
        raise TypeError(f"{aggregate.__qualname__} folds no events")
    return st.one_of([chosen[c] if c in chosen else events(c) for c in classes])


def event_histories(
    aggregate: type[Aggregate],
    /,
    *,
    min_size: int = 0,
    max_size: int = 20,
    overrides: Mapping[type[Any], SearchStrategy[Event]] | None = None,
) -> SearchStrategy[list[Event]]:
    """Lists of events that `aggregate` folds, in any order; see `events_of()`."""
    return st.lists(events_of(aggregate, overrides=overrides), min_size=min_size, max_size=max_size)


def payloads(cls: type[Any], /, **fields: SearchStrategy[Any]) -> SearchStrategy[JSONObject]:
    """JSON payloads of the attrs class `cls` as evtsrc's default converter stores them.

    For upcasters: keep a copy of an event class as an older version was (an attrs
    class, not registered anywhere) and generate what that version stored. Field
    strategies are given and derived as for `events()`.
    """
    if not attrs.has(cls):
        raise TypeError(f"payloads() takes an attrs class, not {cls!r}")
    unstructure = _PAYLOADS.unstructure
    return _instances(cls, fields, ()).map(lambda made: cast(JSONObject, unstructure(made)))


def values(annotation: Any) -> SearchStrategy[Any]:
    """Values of the type `annotation` that survive evtsrc's JSON encoding.

    The building block of `events()`: str, int, float, bool, bytes,
    Decimal, date, datetime, UUID, None, enums, Literal, unions, NewType,
    Annotated, lists, tuples, sequences, sets, frozensets, dicts with str keys, and
    attrs classes.
    """
    return _values(annotation, "value", ())


def _instances(
    cls: type[Any],
    overrides: Mapping[str, SearchStrategy[Any]],
    seen: tuple[type, ...],
    where: str = "",
) -> SearchStrategy[Any]:
    if cls in seen:
        raise TypeError(
            f"{where}: {cls.__qualname__} contains itself; give a strategy for this field by name"
        )
    try:
        attrs.resolve_types(cls)
    except Exception as error:
        raise TypeError(f"cannot resolve the field types of {cls.__qualname__}: {error}") from error
    fields = [f for f in attrs.fields(cls) if f.init]
    names = {f.name for f in fields} | {f.alias for f in fields}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise TypeError(f"{cls.__qualname__} has no field {', '.join(unknown)}")
    strategies: dict[str, SearchStrategy[Any]] = {}
    for field in fields:
        strategy = overrides.get(field.name, overrides.get(field.alias))
        if strategy is None:
            strategy = _values(field.type, f"{cls.__qualname__}.{field.name}", (*seen, cls))
        strategies[field.alias] = strategy

    def build(kwargs: dict[str, Any]) -> Any:
        try:
            return cls(**kwargs)
        except (TypeError, ValueError):
            return None  # a validator refused the values

    return st.fixed_dictionaries(strategies).map(build).filter(lambda made: made is not None)


def _values(annotation: Any, where: str, seen: tuple[type, ...]) -> SearchStrategy[Any]:
    try:
        simple = _SIMPLE.get(annotation)
    except TypeError:  # an unhashable annotation
        simple = None
    if simple is not None:
        return simple
    if annotation is None:
        return st.none()
    if isinstance(annotation, typing.NewType):
        return _values(annotation.__supertype__, where, seen)
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _values(args[0], where, seen)
    if origin is typing.Literal:
        return st.sampled_from(args)
    if origin in (typing.Union, types.UnionType):
        return st.one_of([_values(arg, where, seen) for arg in args])
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return st.sampled_from(list(annotation))
    if isinstance(annotation, type) and attrs.has(annotation):
        return _instances(annotation, {}, seen, where)
    if origin in _LISTS and len(args) == 1:
        return st.lists(_values(args[0], where, seen), max_size=MAX_ITEMS)
    if origin is Sequence and len(args) == 1:  # read back as a tuple
        return st.lists(_values(args[0], where, seen), max_size=MAX_ITEMS).map(tuple)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return st.lists(_values(args[0], where, seen), max_size=MAX_ITEMS).map(tuple)
    if origin is tuple and args and Ellipsis not in args:
        return st.tuples(*(_values(arg, where, seen) for arg in args))
    if origin in _SETS and len(args) == 1:
        return st.sets(_values(args[0], where, seen), max_size=MAX_ITEMS)
    if origin is frozenset and len(args) == 1:
        return st.frozensets(_values(args[0], where, seen), max_size=MAX_ITEMS)
    if origin in _MAPPINGS and len(args) == 2:
        if args[0] is not str:
            raise TypeError(
                f"{where}: a dict of type {annotation!r} does not survive JSON text, whose "
                "object keys are strings; give a strategy for this field by name"
            )
        return st.dictionaries(_TEXT, _values(args[1], where, seen), max_size=MAX_ITEMS)
    raise TypeError(
        f"{where}: cannot derive values of type {annotation!r}; give a strategy for this field "
        "by name, e.g. events(MyEvent, field=st.just(...))"
    )
