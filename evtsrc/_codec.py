"""Turning events and aggregate state into JSON-safe data and back, through cattrs."""

from __future__ import annotations

import copy
import typing
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any, NoReturn, TypeVar, cast

import attrs
import cattrs
import msgspec
from cattrs.v import format_exception

from ._errors import DefinitionError, EventDecodeError, EventEncodeError, UnknownEventType
from ._events import Event, event_type_name
from ._jsontypes import JSON, JSONObject
from ._plain import (
    PlainDecoder,
    PlainEncoder,
    RecordDecoder,
    plain_decoder,
    plain_encoder,
    record_decoder,
)
from ._storable import MAX_DEPTH, TOO_DEEP, json_problem, static_bounds, within_depth
from .backends.base import EventRecord, UndecodablePayload

T = TypeVar("T")

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


def _format_one(error: BaseException, type_: type | None) -> str:
    described = format_exception(error, type_)
    if isinstance(error, (ValueError, TypeError)) and str(error) and str(error) not in described:
        return f"{described} ({error})"
    return described


def as_json(value: object, what: str, *, depth: bool = True, keys: bool = True) -> JSONObject:
    """`value` exactly as it will come back from JSON text, checked to be storable anywhere.

    Raises `EventEncodeError` naming `what` and the place for NaN and infinities,
    which JSON has no words for, values of types it has none for, and what some
    backend cannot store (see `evtsrc._storable`). The text is written and read by
    msgspec; the checks are searches of it, and only when one finds something
    suspect does a walk of `value` say what and where. msgspec writes NaN as null
    and a datetime or a set as JSON where the standard library refused them: a null
    in the text, or a value that does not read back equal, is such a search.
    Without `depth` or `keys`, the caller knows from the value's type that it
    cannot nest too deep, or hold a key that is not a string.
    """
    try:
        text = _encode(value)
    except (RecursionError, TypeError, ValueError):  # too deep, a lone surrogate, not JSON
        _refuse(value, what)  # say where
        raise
    data: JSONObject = _decode(text)
    if (
        b"\\u0000" in text  # msgspec escapes NUL
        or (depth and not within_depth(text))
        or ((keys or b"null" in text) and data != value)  # a key that is not a string,
        # a NaN written as null, a type JSON has no words for, or a tuple a converter left
    ):
        _refuse(value, what)
    return data


def _checks_needed(cls: type, own_converter: bool) -> tuple[bool, bool]:
    """Whether encoding `cls` must check the depth, and the keys, of what it writes.

    Only evtsrc's own converter writes what the annotations say; a command's event
    whose values do not fit them is refused when it is read back before storing
    (see `Codec.encode_decided`).
    """
    if not own_converter:
        return True, True
    depth, keys = static_bounds(cls)
    return depth is None or depth > MAX_DEPTH, keys


def _refuse(value: object, what: str) -> None:
    problem = json_problem(value)
    if problem is not None:
        raise EventEncodeError(f"cannot encode {what}: {problem}")


def _describe(error: BaseException) -> str:
    if isinstance(error, RecursionError):  # cattrs or json met a value nested far too deep
        return TOO_DEEP
    if isinstance(error, cattrs.BaseValidationError):
        return "; ".join(cattrs.transform_error(error, format_exception=_format_one))
    return f"{type(error).__name__}: {error}"


def _by_field(error: BaseException) -> str:
    """`_describe(error)` with each problem led by its field: "n: expected ..."."""
    if not isinstance(error, cattrs.BaseValidationError):
        return _describe(error)
    found = cattrs.transform_error(error, path="", format_exception=_format_one)
    parts: list[str] = []
    for line in found:
        problem, at, where = line.rpartition(" @ ")
        parts.append(f"{where.lstrip('.')}: {problem}" if at and where else line)
    return "; ".join(parts)


_MAPPINGS = (dict, Mapping, MutableMapping, typing.Dict)  # noqa: UP006


def check_json_keys(cls: type, seen: set[type] | None = None) -> None:
    """Refuse mapping fields whose keys would not come back from JSON as they went in.

    JSON object keys are strings: a `dict[int, str]` would be stored with "1"
    for 1 and fail to load. Raises TypeError naming the field.
    """
    seen = set() if seen is None else seen
    if cls in seen or not attrs.has(cls):
        return
    seen.add(cls)
    attrs.resolve_types(cls)
    for field in attrs.fields(cls):
        pending: list[Any] = [field.type]
        while pending:
            annotation = pending.pop()
            origin = typing.get_origin(annotation)
            args = typing.get_args(annotation)
            if origin in _MAPPINGS and args:
                key: object = args[0]
                if not (isinstance(key, type) and issubclass(key, str)):
                    key_name = key.__qualname__ if isinstance(key, type) else repr(key)
                    raise TypeError(
                        f"{cls.__qualname__}.{field.name}: JSON object keys are strings, so "
                        f"a mapping keyed by {key_name} cannot be "
                        "stored; key it by str"
                    )
            pending.extend(args)
            if isinstance(annotation, type) and attrs.has(annotation):
                check_json_keys(annotation, seen)


class Codec:
    """Encodes and decodes the events of one domain, keyed by their type names."""

    def __init__(
        self, converter: cattrs.Converter, events: Iterable[type[Event]], *, plain: bool = False
    ) -> None:
        self.converter = converter
        self.plain = plain
        """Whether plain classes take the fast path (only with evtsrc's own converter)."""
        self._classes: dict[str, type[Event]] = {}  # by every name read: type names, aliases
        self._decoders: dict[str, Callable[[Any, Any], Event]] = {}
        self._plain_decoders: dict[str, PlainDecoder] = {}
        self._fast: dict[str, RecordDecoder] = {}  # of records at the class's version
        self._plain_encoders: dict[type[Event], PlainEncoder] = {}
        self._encoders: dict[type[Event], Callable[[Any], Any]] = {}
        self._checks: dict[type[Event], tuple[bool, bool]] = {}
        for cls in events:
            self.register(cls)

    def register(self, cls: type[Event]) -> None:
        """Make `cls` known by its type name and aliases; two classes may not share one.

        Refuses a class whose upcasters leave a version without a step to the next.
        """
        name = event_type_name(cls)
        if self._classes.get(name) is cls:
            return
        names = (name, *cls.__event_aliases__)
        for each in names:
            known = self._classes.get(each)
            if known is not None:
                alias_of = cls if each != name else known if each != known.__event_type__ else None
                raise DefinitionError(
                    f"event type name {each!r} is used by both {known.__module__}."
                    f"{known.__qualname__} and {cls.__module__}.{cls.__qualname__}"
                    + ("" if alias_of is None else f" (as an alias of {alias_of.__qualname__})")
                )
        missing = [v for v in range(1, cls.__event_version__) if v not in cls.__upcasters__]
        if missing:
            raise DefinitionError(
                f"event {cls.__qualname__} is at version {cls.__event_version__} but has no "
                f"upcaster from version {missing[0]}: events stored at that version could "
                "not be read"
            )
        try:
            attrs.resolve_types(cls)
            check_json_keys(cls)
            decoder = self.converter.get_structure_hook(cls)
            self._encoders[cls] = self.converter.get_unstructure_hook(cls)
            self._checks[cls] = _checks_needed(cls, self.plain)
            fast = plain_decoder(cls) if self.plain else None
            fast_record = record_decoder(cls, cls.__event_version__) if fast else None
            fast_out = plain_encoder(cls) if self.plain else None
            if fast_out is not None:
                self._plain_encoders[cls] = fast_out
        except Exception as error:
            raise DefinitionError(
                f"event {cls.__qualname__} cannot be stored as JSON: {_describe(error)}"
            ) from error
        for each in names:
            self._classes[each] = cls
            self._decoders[each] = decoder
            if fast is not None and fast_record is not None:
                self._plain_decoders[each] = fast
                self._fast[each] = fast_record

    @property
    def classes(self) -> dict[str, type[Event]]:
        """Registered event classes by the type names they are read under (aliases too)."""
        return dict(self._classes)

    def encode(self, event: Event) -> tuple[str, JSONObject]:
        """The type name and JSON object stored for `event`."""
        cls = type(event)
        fast = self._plain_encoders.get(cls)
        if fast is not None:
            plain = fast(event)
            if plain is not None:
                return cls.__event_type__, plain
        return cls.__event_type__, self._encode_general(event)

    def _encode_general(self, event: Event) -> JSONObject:
        """`event`'s payload through the converter, checked to be storable everywhere."""
        cls = type(event)
        encoder = self._encoders.get(cls)
        if encoder is None:
            raise EventEncodeError(f"{cls.__qualname__} is not an event of this domain")
        try:
            depth, keys = self._checks[cls]
            return as_json(encoder(event), cls.__qualname__, depth=depth, keys=keys)
        except EventEncodeError:
            raise
        except Exception as error:
            raise EventEncodeError(
                f"cannot encode {cls.__qualname__}: {_describe(error)}"
            ) from error

    def encode_decided(
        self, event: Event, owner: type, command: str
    ) -> tuple[str, JSONObject, Event]:
        """`event`'s type name and payload, and the event to fold: the one a later load reads.

        An event that would not read back as it is (a field given a value of the
        wrong type) raises `EventEncodeError` naming the command of `owner` that
        returned it, the event and the fields: nothing was stored.
        """
        cls = type(event)
        type_name = cls.__event_type__
        fast = self._plain_encoders.get(cls)
        data = fast(event) if fast is not None else None
        if data is None:
            data = self._encode_general(event)
        elif type_name in self._plain_decoders:
            return type_name, data, event  # every field holds exactly its type: it reads back equal
        # Decoded on purpose: a converter writes a value of the wrong type without complaint
        # ("1" for an int), and only reading it back refuses it before anything is stored.
        try:
            return type_name, data, self.decode(type_name, data)
        except EventDecodeError as error:
            cause = error.__cause__
            detail = str(error) if cause is None else _by_field(cause)
            raise EventEncodeError(
                f"{owner.__qualname__}.{command} returned {event!r} that does not match its "
                f"class: {detail}"
            ) from error

    def decode_record(self, record: EventRecord) -> Event:
        """The event of a stored record; an `EventDecodeError` names the record.

        Every load and every handler decodes through here, one record at a time.
        """
        fast = self._fast.get(record.type)
        if fast is not None:
            event: Event | None = fast(record)
            if event is not None:
                return event
        try:
            data = record.data
            cls = self._classes.get(record.type)
            if cls is not None and record.event_version != cls.__event_version__:
                data = self._upcast(cls, record)
                plain = self._plain_decoders.get(record.type)
                if plain is not None:
                    event = plain(data)
                    if event is not None:
                        return event
            return self._decode_general(record.type, data)
        except EventDecodeError as error:
            raise in_record(error, record) from error.__cause__

    def _upcast(self, cls: type[Event], record: EventRecord) -> JSONObject:
        """The payload of `record`, stored by an older version of `cls`, as `cls` writes it."""
        stored, current = record.event_version, cls.__event_version__
        if stored > current:
            raise EventDecodeError(
                f"stored {record.type} event is at version {stored}, newer than "
                f"{cls.__qualname__} (version {current}) knows: run the code that wrote it",
                type_name=record.type,
            )
        if stored < 1:
            raise EventDecodeError(
                f"stored {record.type} event has version {stored}; versions start at 1",
                type_name=record.type,
            )
        data = record.data
        if not isinstance(data, dict):
            return self._refused(record.type, data)
        data = copy.deepcopy(data)  # an upcaster may change what it is given, not the store
        for version in range(stored, current):
            step = cls.__upcasters__[version]
            name = getattr(step, "__qualname__", repr(step))
            try:
                data = step(data)
            except Exception as error:
                raise EventDecodeError(
                    f"upcaster {name} of {cls.__qualname__} from version {version} raised "
                    f"{type(error).__name__}: {error}",
                    type_name=record.type,
                ) from error
            if not isinstance(data, dict):
                raise EventDecodeError(
                    f"upcaster {name} of {cls.__qualname__} from version {version} returned "
                    f"{type(data).__name__}, not a JSON object",
                    type_name=record.type,
                )
        return data

    def _refused(self, type_name: str, data: JSON | UndecodablePayload) -> NoReturn:
        self._decode_general(type_name, data)  # raises: the payload is no JSON object
        raise AssertionError("unreachable")

    def fast_step(self, type_name: str) -> RecordDecoder | None:
        """The fast decoder of records of a plain event type at its version; see `_plain`."""
        return self._fast.get(type_name)

    def decode(self, type_name: str, data: JSON | UndecodablePayload) -> Event:
        """The event stored as `type_name` with payload `data`.

        Raises `UnknownEventType` or `EventDecodeError` naming what is wrong.
        """
        fast = self._plain_decoders.get(type_name)
        if fast is not None and type(data) is dict:
            event: Event | None = fast(data)
            if event is not None:
                return event
        return self._decode_general(type_name, data)

    def _decode_general(self, type_name: str, data: JSON | UndecodablePayload) -> Event:
        """`decode` through the converter: for anything the plain decoders do not take."""
        decoder = self._decoders.get(type_name)
        if decoder is None:
            raise UnknownEventType(
                f"stored event type {type_name!r} is not registered in this domain",
                type_name=type_name,
            )
        if isinstance(data, UndecodablePayload):
            raise EventDecodeError(
                f"stored {type_name} payload cannot be parsed: {_describe(data.error)}",
                type_name=type_name,
            ) from data.error
        if not isinstance(data, dict):
            raise EventDecodeError(
                f"stored {type_name} payload is {type(data).__name__}, not a JSON object",
                type_name=type_name,
            )
        try:
            return decoder(data, self._classes[type_name])
        except Exception as error:
            raise EventDecodeError(
                f"stored {type_name} payload does not match its class: {_describe(error)}",
                type_name=type_name,
            ) from error


class StateCodec:
    """Encodes and decodes one aggregate class's state (its attrs fields).

    With `plain`, a state of JSON scalars only goes through the fast functions of
    `evtsrc._plain` (every command encodes the state it caches and decodes it again).
    """

    def __init__(self, converter: cattrs.Converter, cls: type[T], *, plain: bool = False) -> None:
        self.cls = cls
        try:
            check_json_keys(cls)
            self._structure = converter.get_structure_hook(cls)
            self._unstructure = converter.get_unstructure_hook(cls)
            self._plain_decode = plain_decoder(cls) if plain else None
            self._plain_encode = plain_encoder(cls) if plain else None
            self._depth, self._keys = _checks_needed(cls, plain)
        except Exception as error:
            raise DefinitionError(
                f"state of {cls.__qualname__} cannot be stored as JSON: {_describe(error)}"
            ) from error

    def encode(self, state: object) -> JSONObject:
        """The JSON object for `state`'s fields."""
        if self._plain_encode is not None:
            fast = self._plain_encode(state)
            if fast is not None:
                return fast
        try:
            data = as_json(
                self._unstructure(state),
                f"{self.cls.__qualname__} state",
                depth=self._depth,
                keys=self._keys,
            )
        except EventEncodeError:
            raise
        except Exception as error:
            raise EventEncodeError(
                f"cannot encode {self.cls.__qualname__} state: {_describe(error)}"
            ) from error
        return data

    def decode(self, data: object) -> Any:
        """A new instance with the fields in `data`."""
        if self._plain_decode is not None and isinstance(data, dict):
            fast = self._plain_decode(cast(dict[str, Any], data))
            if fast is not None:
                return fast
        return self._structure(data, self.cls)


def in_record(error: EventDecodeError, record: EventRecord) -> EventDecodeError:
    """`error` again, naming the stored record it is about, with the same `__cause__`."""
    named = type(error)(
        str(error),
        stream=record.stream,
        aggregate_id=record.aggregate_id,
        version=record.version,
        type_name=record.type,
        position=record.position,
    )
    named.__cause__ = error.__cause__
    return named
