"""The commit gate of `Neo4jBackend`: a pause at the end of an append's transaction."""

from __future__ import annotations

from collections.abc import Sequence

from neo4j import AsyncManagedTransaction

from evtsrc.backends.base import EventRecord, NewEvent
from evtsrc.backends.neo4j import Neo4jBackend

from . import CommitGate
from ._in_process import InProcessGate


def neo4j_gate(backend: Neo4jBackend) -> CommitGate:
    """A gate that pauses an append once its transaction has taken positions and created.

    Other appends meanwhile wait for the position counter's write lock.
    """
    gate = InProcessGate()
    write = backend._write  # pyright: ignore[reportPrivateUsage]

    async def paused_write(
        tx: AsyncManagedTransaction,
        stream: str,
        aggregate_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        retried: bool,
    ) -> list[EventRecord]:
        records = await write(tx, stream, aggregate_id, expected_version, events, retried)
        await gate.pause(aggregate_id)
        return records

    gate.install(backend, "_write", paused_write)
    return gate
