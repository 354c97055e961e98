"""The events of a batch as its hooks see them: decoded only if a hook looks at them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import cast, overload

from ._errors import EventDecodeError
from ._events import Event, StoredEvent
from ._meta import EventMeta
from .backends.base import EventRecord


class BatchEvents(Sequence[StoredEvent[Event]]):
    """The decoded events of `records` (those that decode), as `StoredEvent`s.

    Nothing is decoded until the sequence is first read; then every event is, once,
    and the callbacks are given the same events (`decoded`). A hook that never looks
    (a relay's) costs nothing, and a batch's events need not all stay alive at once.
    """

    __slots__ = ("_decode", "_events", "_meta_of", "_records", "decoded")

    def __init__(
        self,
        records: Sequence[EventRecord],
        decode: Callable[[EventRecord], Event],
        meta_of: Callable[[EventRecord], EventMeta],
    ) -> None:
        self._records = records
        self._decode = decode
        self._meta_of = meta_of
        self._events: list[StoredEvent[Event]] | None = None
        self.decoded: dict[int, StoredEvent[Event]] | None = None
        """Once read: each decoded event by the `id()` of its record."""

    def _all(self) -> list[StoredEvent[Event]]:
        if self._events is None:
            events: list[StoredEvent[Event]] = []
            decoded: dict[int, StoredEvent[Event]] = {}
            for record in self._records:
                try:
                    event = self._decode(record)
                except EventDecodeError:
                    continue
                one = StoredEvent(event, self._meta_of(record))
                events.append(one)
                decoded[id(record)] = one
            self._events, self.decoded = events, decoded
        return self._events

    def before(self, record: EventRecord) -> BatchEvents:
        """The events of the records before `record` (one of them)."""
        records = self._records
        index = next(i for i, one in enumerate(records) if one is record)
        view = BatchEvents(records[:index], self._decode, self._meta_of)
        if (decoded := self.decoded) is not None:  # the same events, in record order
            view.decoded = {id(r): decoded[id(r)] for r in records[:index] if id(r) in decoded}
            view._events = list(view.decoded.values())
        return view

    def __len__(self) -> int:
        return len(self._all())

    @overload
    def __getitem__(self, index: int) -> StoredEvent[Event]: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[StoredEvent[Event]]: ...
    def __getitem__(self, index: int | slice) -> StoredEvent[Event] | Sequence[StoredEvent[Event]]:
        return self._all()[index]

    def __iter__(self) -> Iterator[StoredEvent[Event]]:
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, BatchEvents):
            return self._all() == other._all()
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return self._all() == list(cast("Sequence[object]", other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"BatchEvents({self._all()!r})"
