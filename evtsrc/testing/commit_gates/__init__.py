"""Test-only control over when a backend's appends commit, once their positions are taken.

Out-of-order commits are what a backend's readers must survive: a writer that took
its positions commits after a later writer. A `CommitGate` makes that happen on
demand, through the database itself where it allows (a trigger that waits), so the
backend keeps one append path and no hook.
"""

from __future__ import annotations

import abc

from ...backends.base import Backend


class CommitGate(abc.ABC):
    """Test-only control over when a backend's appends commit, once their positions are taken."""

    @abc.abstractmethod
    async def hold(self, aggregate_id: str) -> None:
        """From now on an append to `aggregate_id` (any stream) waits before it commits.

        Its positions are taken by then; it waits until `release(aggregate_id)`.
        """

    @abc.abstractmethod
    async def wait_held(self, aggregate_id: str) -> None:
        """Return once an append to `aggregate_id` waits in `hold`; `TimeoutError` after 10 s."""

    @abc.abstractmethod
    async def release(self, aggregate_id: str) -> None:
        """Let appends to `aggregate_id` commit."""

    @abc.abstractmethod
    async def jitter(self, max_delay: float) -> None:
        """From now on every append waits a random 0..`max_delay` s before it commits."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Remove holds, delays and whatever was installed: the backend is as in production."""


def commit_gate(backend: Backend) -> CommitGate:
    """The commit gate for `backend`: so far, either backend on PostgreSQL."""
    from ._postgres import postgres_gate

    return postgres_gate(backend)
