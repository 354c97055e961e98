"""The commit gate of `InMemoryBackend`: its appends take positions as they commit."""

from __future__ import annotations

from collections.abc import Sequence

from evtsrc.backends import InMemoryBackend
from evtsrc.backends.base import EventRecord, NewEvent

from . import CommitGate
from ._in_process import InProcessGate


def memory_gate(backend: InMemoryBackend) -> CommitGate:
    """A gate that pauses an append before it checks, numbers and stores its events."""
    gate = InProcessGate()
    append = backend._append  # pyright: ignore[reportPrivateUsage]

    async def paused_append(
        stream: str, aggregate_id: str, expected_version: int, events: Sequence[NewEvent]
    ) -> Sequence[EventRecord]:
        await gate.pause(aggregate_id)
        return await append(stream, aggregate_id, expected_version, events)

    gate.install(backend, "_append", paused_append)
    return gate
