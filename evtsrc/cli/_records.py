"""Stored events as the commands show them: decoded through the domain, or as stored."""

from __future__ import annotations

import json

import attrs

from .._codec import Codec
from .._jsontypes import JSON
from ..backends.base import EventRecord, UndecodablePayload
from ._output import iso


@attrs.frozen
class Shown:
    """A stored event and what the domain made of it.

    `decoded` is the event's repr where the domain decoded it; `error` says why it
    could not (None when it was not asked to: `--raw`, or no `--app`).
    """

    record: EventRecord
    decoded: str | None = None
    error: str | None = None

    def payload(self) -> str:
        """What a table or a line shows of the event: decoded, else the stored JSON."""
        if self.decoded is not None:
            return self.decoded
        stored = compact(stored_data(self.record))
        return stored if self.error is None else f"{stored} (cannot decode: {self.error})"

    def as_json(self) -> dict[str, object]:
        """The JSON object of `--json` (one line of JSON Lines)."""
        r = self.record
        return {
            "stream": r.stream,
            "aggregate_id": r.aggregate_id,
            "version": r.version,
            "position": r.position,
            "timestamp": iso(r.timestamp),
            "type": r.type,
            "event_id": r.event_id,
            "event_version": r.event_version,
            "metadata": metadata(r),
            "data": stored_data(r),
            "decoded": self.decoded,
            "decode_error": self.error,
        }


def shown(record: EventRecord, codec: Codec | None) -> Shown:
    """`record`, decoded by `codec` if given; an event it cannot decode is shown as stored."""
    if codec is None:
        return Shown(record)
    try:
        return Shown(record, decoded=repr(codec.decode_record(record)))
    except Exception as error:  # any failure of the user's classes: shown, never raised
        return Shown(record, error=" ".join(str(error).split()) or type(error).__name__)


def stored_data(record: EventRecord) -> JSON:
    """The stored payload; for one the store could not parse, the text stored."""
    data = record.data
    if isinstance(data, UndecodablePayload):
        stored = data.stored
        return stored.decode("utf-8", "replace") if isinstance(stored, bytes) else str(stored)
    return data


def metadata(record: EventRecord) -> JSON:
    """The stored metadata as JSON (parsed if stored as text; the text if it is not JSON)."""
    stored = record.metadata
    if isinstance(stored, str):
        try:
            parsed: JSON = json.loads(stored)
        except ValueError:
            return stored
        return parsed
    return stored


def compact(value: JSON) -> str:
    """JSON text on one line, without spaces after separators."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
