"""The commit gate of `MongoBackend`: a pause at the end of an append's transaction."""

from __future__ import annotations

from collections.abc import Sequence

from pymongo.asynchronous.client_session import AsyncClientSession

from evtsrc.backends.base import EventRecord, NewEvent
from evtsrc.backends.mongo import MongoBackend

from . import CommitGate
from ._in_process import InProcessGate


def mongo_gate(backend: MongoBackend) -> CommitGate:
    """A gate that pauses an append once its transaction has taken positions and inserted.

    Other appends meanwhile meet a write conflict on the position counter, and
    `with_transaction` retries them.
    """
    gate = InProcessGate()
    write = backend._write  # pyright: ignore[reportPrivateUsage]

    async def paused_write(
        session: AsyncClientSession,
        stream: str,
        aggregate_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
    ) -> list[EventRecord]:
        records = await write(session, stream, aggregate_id, expected_version, events)
        await gate.pause(aggregate_id)
        return records

    gate.install(backend, "_write", paused_write)
    return gate
