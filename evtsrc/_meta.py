"""`EventMeta`: where, when and why an event was stored, read from its stored record."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import NamedTuple, Protocol, cast, final

import msgspec

from ._errors import EventDecodeError, MetadataNotRead
from ._jsontypes import JSON, JSONObject

CORRELATION_ID = "correlation_id"
CAUSATION_ID = "causation_id"
RESERVED_METADATA = frozenset({CORRELATION_ID, CAUSATION_ID, "event_id"})
"""Metadata keys evtsrc writes itself; the user's own metadata may not use them."""

_LEGACY_IDS = uuid.UUID("0b5b8a4e-6f1c-4d59-9a53-2f3c1f0e7d21")
"""The namespace of the ids of events stored before stores kept event ids."""

_parse = msgspec.json.Decoder().decode


class MetaRecord(Protocol):
    """What `EventMeta` reads: a stored record (`evtsrc.backends.base.EventRecord`)."""

    @property
    def stream(self) -> str: ...
    @property
    def aggregate_id(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def position(self) -> int: ...
    @property
    def timestamp(self) -> datetime: ...
    @property
    def type(self) -> str: ...
    @property
    def event_id(self) -> str | None: ...
    @property
    def event_version(self) -> int: ...
    @property
    def metadata(self) -> JSONObject | str | None: ...


class _Given(NamedTuple):
    """The fields of an `EventMeta` built directly, as in a test."""

    stream: str
    aggregate_id: str
    version: int
    position: int
    timestamp: datetime
    type: str
    event_id: str | None
    event_version: int
    metadata: JSONObject


def legacy_event_id(stream: str, aggregate_id: str, version: int) -> str:
    """The stable id of an event stored before its store kept event ids."""
    return str(uuid.uuid5(_LEGACY_IDS, f"{stream}\n{aggregate_id}\n{version}"))


@final
class EventMeta:
    """Where, when and why an event was stored.

    Read-only. It reads its fields from the stored record when asked, so that a
    catch-up or a load builds one per event at the cost of a single reference
    (metadata is parsed only when asked for).
    """

    __slots__ = ("_record",)
    _record: MetaRecord

    def __init__(
        self,
        stream: str,
        aggregate_id: str,
        version: int,
        position: int,
        timestamp: datetime,
        type_name: str,
        *,
        event_id: str | None = None,
        event_version: int = 1,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        metadata: Mapping[str, JSON] | None = None,
    ) -> None:
        stored: JSONObject = dict(metadata or {})
        if correlation_id is not None:
            stored[CORRELATION_ID] = correlation_id
        if causation_id is not None:
            stored[CAUSATION_ID] = causation_id
        self._record = _Given(
            stream, aggregate_id, version, position, timestamp, type_name,
            event_id, event_version, stored,
        )  # fmt: skip

    @property
    def stream(self) -> str:
        """The stream the event is in: its aggregate class's stream name."""
        return self._record.stream

    @property
    def aggregate_id(self) -> str:
        """The id of the aggregate the event belongs to."""
        return self._record.aggregate_id

    @property
    def version(self) -> int:
        """The aggregate's version after this event: 1 for its first event."""
        return self._record.version

    @property
    def position(self) -> int:
        """The event's global position: ascending in the order handlers read."""
        return self._record.position

    @property
    def timestamp(self) -> datetime:
        """When the event was appended (timezone-aware, UTC)."""
        return self._record.timestamp

    @property
    def type_name(self) -> str:
        """The event's stored type name."""
        return self._record.type

    @property
    def event_id(self) -> str:
        """The event's id, a UUID (one derived from where it is, for events stored before ids)."""
        r = self._record
        return r.event_id or legacy_event_id(r.stream, r.aggregate_id, r.version)

    @property
    def event_version(self) -> int:
        """The version of the event's class that wrote its payload (1 unless declared)."""
        return self._record.event_version

    @property
    def correlation_id(self) -> str:
        """The id shared by every event of one request or workflow.

        Each command starts a new one unless `evtsrc.context` or the handler running
        it gives one; an event stored before metadata is its own correlation.
        """
        return ids_of(self)[1]

    @property
    def causation_id(self) -> str | None:
        """The id of the event whose handling appended this one, if any."""
        return ids_of(self)[2]

    @property
    def metadata(self) -> JSONObject:
        """The user's metadata recorded with the event: a new dict at each call."""
        return {
            key: value
            for key, value in self._stored_metadata().items()
            if key not in RESERVED_METADATA
        }

    def _stored_metadata(self) -> JSONObject:
        return _metadata_of(self._record)

    def _fields(self) -> tuple[object, ...]:
        r = self._record
        return (
            r.stream, r.aggregate_id, r.version, r.position, r.timestamp, r.type,
            self.event_id, r.event_version, self._stored_metadata(),
        )  # fmt: skip

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EventMeta):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        r = self._record
        return hash((r.stream, r.aggregate_id, r.version, r.position, r.type, self.event_id))

    def __repr__(self) -> str:
        r = self._record
        return (
            f"EventMeta(stream={r.stream!r}, aggregate_id={r.aggregate_id!r}, "
            f"version={r.version!r}, position={r.position!r}, timestamp={r.timestamp!r}, "
            f"type_name={r.type!r}, event_id={self.event_id!r}, "
            f"event_version={r.event_version!r}, correlation_id={self.correlation_id!r}, "
            f"causation_id={self.causation_id!r}, metadata={self.metadata!r})"
        )

    def __reduce__(self) -> tuple[Callable[..., EventMeta], tuple[object, ...]]:
        r = self._record
        given = _Given(
            r.stream, r.aggregate_id, r.version, r.position, r.timestamp, r.type,
            r.event_id, r.event_version, self._stored_metadata(),
        )  # fmt: skip
        return meta_of, (given,)


def _metadata_of(record: MetaRecord) -> JSONObject:
    """The metadata stored with `record`, parsed if the store kept it as text."""
    stored = record.metadata
    if stored is None:
        return {}
    if isinstance(stored, str):
        try:
            parsed = _parse(stored)
        except msgspec.DecodeError as error:
            raise _bad_metadata(record, f"cannot be parsed: {error}") from error
        if not isinstance(parsed, dict):
            raise _bad_metadata(record, f"is {type(parsed).__name__}, not a JSON object")
        return cast(JSONObject, parsed)
    return stored


def _bad_metadata(record: MetaRecord, problem: str) -> EventDecodeError:
    return EventDecodeError(
        f"stored metadata of {record.type} {problem}",
        stream=record.stream,
        aggregate_id=record.aggregate_id,
        version=record.version,
        type_name=record.type,
        position=record.position,
    )


_new_meta = object.__new__
_set_record: Callable[[EventMeta, MetaRecord], None] = EventMeta.__dict__["_record"].__set__
_get_record: Callable[[EventMeta], MetaRecord] = EventMeta.__dict__["_record"].__get__


def stored_data(meta: EventMeta) -> JSONObject | None:
    """The payload stored with `meta`'s event, if `meta` was read from a store."""
    data: object = getattr(_get_record(meta), "data", None)
    return cast("JSONObject", data) if isinstance(data, dict) else None


record_of: Callable[[EventMeta], MetaRecord] = _get_record
"""The stored record `meta` reads: its fields without a property call each."""


def ids_of(meta: EventMeta) -> tuple[str, str, str | None]:
    """`meta`'s event id, correlation id and causation id, its stored metadata read once."""
    if isinstance(meta, _MetaWithoutMetadata):  # its metadata was not read: it raises
        return meta.event_id, meta.correlation_id, meta.causation_id
    r = _get_record(meta)
    event_id = r.event_id or legacy_event_id(r.stream, r.aggregate_id, r.version)
    stored = _metadata_of(r)
    correlation, causation = stored.get(CORRELATION_ID), stored.get(CAUSATION_ID)
    return (
        event_id,
        correlation if isinstance(correlation, str) else event_id,
        causation if isinstance(causation, str) else None,
    )


def meta_of(record: MetaRecord) -> EventMeta:
    """The `EventMeta` of a stored record: a view of it, built without copying a field."""
    meta = _new_meta(EventMeta)
    _set_record(meta, record)
    return meta


# The same class to users (`EventMeta` is final to them): only evtsrc makes these.
class _MetaWithoutMetadata(EventMeta):  # type: ignore[misc]  # pyright: ignore[reportGeneralTypeIssues]
    """The `EventMeta` a handler declared with `reads_metadata=False` gets.

    Its reads left out the event's id and metadata, so asking for them raises
    `MetadataNotRead` rather than answering wrongly.
    """

    __slots__ = ()

    def _not_read(self, name: str) -> MetadataNotRead:
        r = self._record
        return MetadataNotRead(
            f"the {name} of {r.type} at position {r.position} ({r.stream}/{r.aggregate_id} "
            f"version {r.version}) was not read: its handler is declared with "
            "reads_metadata=False, which also keeps it from running commands"
        )

    @property
    def event_id(self) -> str:
        raise self._not_read("event id")

    @property
    def correlation_id(self) -> str:
        raise self._not_read("correlation id")

    @property
    def causation_id(self) -> str | None:
        raise self._not_read("causation id")

    @property
    def metadata(self) -> JSONObject:
        raise self._not_read("metadata")

    def _fields(self) -> tuple[object, ...]:
        r = self._record
        return (r.stream, r.aggregate_id, r.version, r.position, r.timestamp, r.type)

    def __hash__(self) -> int:
        return hash(self._fields()[:4])

    def __repr__(self) -> str:
        r = self._record
        return (
            f"EventMeta(stream={r.stream!r}, aggregate_id={r.aggregate_id!r}, "
            f"version={r.version!r}, position={r.position!r}, timestamp={r.timestamp!r}, "
            f"type_name={r.type!r}, event_version={r.event_version!r}, "
            "event id and metadata not read)"
        )

    def __reduce__(self) -> tuple[Callable[..., EventMeta], tuple[object, ...]]:
        r = self._record
        given = _Given(
            r.stream, r.aggregate_id, r.version, r.position, r.timestamp, r.type,
            None, r.event_version, {},
        )  # fmt: skip
        return meta_without_metadata, (given,)


def meta_without_metadata(record: MetaRecord) -> EventMeta:
    """`meta_of` for a record read without its event id and metadata: they raise if asked."""
    meta = _new_meta(_MetaWithoutMetadata)
    _set_record(meta, record)
    return meta
