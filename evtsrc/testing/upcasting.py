"""Checking upcasters: an old payload upcast and decoded, as a load would read it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TypeVar

import cattrs

from .._codec import Codec
from .._converter import default_converter
from .._events import Event
from .._jsontypes import JSONObject
from ..backends.base import EventRecord

EventT = TypeVar("EventT", bound=Event)


def upcast(
    cls: type[EventT],
    payload: JSONObject,
    *,
    from_version: int,
    converter: cattrs.Converter | None = None,
) -> EventT:
    """`payload`, stored by version `from_version` of `cls`, read as a load reads it.

    Runs `cls`'s upcasters from `from_version` up, then decodes the result with
    `converter` (evtsrc's default unless given). Raises `EventDecodeError` naming
    the upcaster or the fields that failed, as a load would; a `DefinitionError`
    for a gap in the upcasters. With `evtsrc.testing.strategies.payloads` of a
    copy of the class as it was, a property test checks that an upcaster takes
    every payload its version could have stored:

    ```python
    @given(payloads(PostCreatedV1))
    def test_v1_posts_read(payload):
        upcast(PostCreated, payload, from_version=1)
    ```
    """
    if converter is None:
        codec = Codec(default_converter(), [cls], plain=True)
    else:
        codec = Codec(converter, [cls])
    record = EventRecord(
        "upcast", "upcast", 1, 1, datetime.now(UTC), cls.__event_type__, payload,
        None, from_version, None,
    )  # fmt: skip
    event = codec.decode_record(record)
    assert isinstance(event, cls)
    return event
