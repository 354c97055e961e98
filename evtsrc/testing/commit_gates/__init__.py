"""Test-only control over when a backend's appends commit.

The out-of-order commit tests of `evtsrc.testing.backend_contract` hold one append
open once it has taken its positions, or delay every append by a random time, to
check that handlers never skip an event. A `CommitGate` does this from outside the
backend: a trigger in the database where the database allows one, or a wrapper around
a private method of the backend instance. Production code has no hook for it.
`commit_gate(backend)` makes the gate of one of evtsrc's own backends.
"""

from __future__ import annotations

import abc
import importlib
import sys
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evtsrc.backends import Backend

WAIT_HELD_TIMEOUT = 10.0
"""Seconds `CommitGate.wait_held` waits for an append to arrive."""


class CommitGate(abc.ABC):
    """Test-only control over when a backend's appends commit, once their positions are taken.

    A backend that takes positions as it commits holds or delays an append before
    it takes them. Use it as an async context manager, or call `close()` when done.
    """

    @abc.abstractmethod
    async def hold(self, aggregate_id: str) -> None:
        """From now on, appends to `aggregate_id` (any stream) wait before they commit.

        They wait until `release(aggregate_id)`.
        """

    @abc.abstractmethod
    async def wait_held(self, aggregate_id: str) -> None:
        """Return once an append to `aggregate_id` waits in a hold.

        Raises `TimeoutError` when none does within `WAIT_HELD_TIMEOUT` seconds.
        """

    @abc.abstractmethod
    async def release(self, aggregate_id: str) -> None:
        """Let the appends held for `aggregate_id` commit, and hold no more of them."""

    @abc.abstractmethod
    async def jitter(self, max_delay: float) -> None:
        """From now on, every append waits a random 0 to `max_delay` seconds before it commits."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release every hold, end the delays and remove what the gate installed.

        The backend then behaves as in production.
        """

    async def __aenter__(self) -> CommitGate:
        """The gate itself; leaving the block closes it."""
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the gate."""
        await self.close()


def commit_gate(backend: Backend) -> CommitGate:
    """A commit gate for one of evtsrc's own backends; `TypeError` for any other."""
    module, factory = _gate_of(backend)
    make = getattr(importlib.import_module(f"{__name__}.{module}"), factory)
    gate = make(backend)
    if not isinstance(gate, CommitGate):
        raise TypeError(f"{module}.{factory} made {gate!r}, not a CommitGate")
    return gate


def _gate_of(backend: Backend) -> tuple[str, str]:
    """The module and factory of the gate for `backend`.

    A backend's class is looked up only when its module was imported: a backend
    of a module never imported cannot exist, and importing it could need a driver.
    """
    from evtsrc.backends import InMemoryBackend, SqliteBackend

    if isinstance(backend, InMemoryBackend):
        return "_memory", "memory_gate"
    if isinstance(backend, SqliteBackend):
        return "_sql", "sql_gate"
    if _imported("evtsrc.backends.postgres"):
        from evtsrc.backends.postgres import PostgresBackend

        if isinstance(backend, PostgresBackend):
            return "_postgres", "postgres_gate"
    if _imported("evtsrc.backends.sqlalchemy"):
        from evtsrc.backends.sqlalchemy import SqlAlchemyBackend

        if isinstance(backend, SqlAlchemyBackend) and backend.dialect == "postgresql":
            return "_postgres", "postgres_gate"
        if isinstance(backend, SqlAlchemyBackend):
            return "_sql", "sql_gate"
    if _imported("evtsrc.backends.mongo"):
        from evtsrc.backends.mongo import MongoBackend

        if isinstance(backend, MongoBackend):
            return "_mongo", "mongo_gate"
    if _imported("evtsrc.backends.neo4j"):
        from evtsrc.backends.neo4j import Neo4jBackend

        if isinstance(backend, Neo4jBackend):
            return "_neo4j", "neo4j_gate"
    raise TypeError(f"evtsrc has no commit gate for {type(backend).__qualname__}")


def _imported(module: str) -> bool:
    return module in sys.modules


__all__ = ["WAIT_HELD_TIMEOUT", "CommitGate", "commit_gate"]
