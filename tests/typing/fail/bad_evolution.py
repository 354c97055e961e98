"""Metadata and upcasters used wrongly."""

from __future__ import annotations

import attrs

import evtsrc
from evtsrc import Event, EventMeta, metadata_as, upcaster


@attrs.frozen
class Request:
    user: str


class Moved(Event, type_name="typing.bad.moved", version=2):
    street: str


def context_values() -> None:
    evtsrc.context(correlation_id=5)  # expect-error: arg-type ArgumentType
    evtsrc.context(user=object())  # expect-error: arg-type ArgumentType
    evtsrc.context(caused_by="event-1")  # expect-error: arg-type ArgumentType


def typed_metadata(meta: EventMeta) -> None:
    request: str = metadata_as(meta, Request)  # expect-error: assignment AssignmentType
    meta.metadata = {}  # expect-error: misc AttributeAccessIssue
    print(request)


@upcaster(Moved, from_version=1)  # expect-error: type-var ArgumentType UntypedFunctionDecorator
def _wrong_shape(data: str) -> int:
    return len(data)
