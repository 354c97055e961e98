"""Which streams hold which event classes, over the aggregates of one domain."""

from __future__ import annotations

from collections.abc import Iterable

from ._events import Event


class StreamMap:
    """The streams of a domain's aggregates, and the event classes each one holds."""

    def __init__(self) -> None:
        self._streams_of: dict[type[Event], set[str]] = {}
        self._streams: set[str] = set()

    def add(self, stream: str, events: Iterable[type[Event]]) -> None:
        """Record that `stream` holds events of the classes `events`."""
        self._streams.add(stream)
        for event in events:
            self._streams_of.setdefault(event, set()).add(stream)

    @property
    def streams(self) -> frozenset[str]:
        """Every stream of the domain."""
        return frozenset(self._streams)

    def streams_of(self, event: type[Event]) -> frozenset[str]:
        """The streams that events of class `event` (or its subclasses) are stored in."""
        found: set[str] = set()
        for cls, streams in self._streams_of.items():
            if issubclass(cls, event):
                found |= streams
        return frozenset(found)
