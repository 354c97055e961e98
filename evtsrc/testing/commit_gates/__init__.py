"""Test-only control over when a backend's appends commit (replaces `before_commit`).

A local copy of the interface the contract engineer writes, so that the SQL
gates can run on this branch; the lead keeps theirs at merge.
"""

from __future__ import annotations

import abc

from ...backends.base import Backend


class CommitGate(abc.ABC):
    """Test-only control over when a backend's appends commit, once their positions are taken."""

    @abc.abstractmethod
    async def hold(self, aggregate_id: str) -> None:
        """From now on an append to `aggregate_id` waits before it commits, until `release`."""

    @abc.abstractmethod
    async def wait_held(self, aggregate_id: str) -> None:
        """Return once an append to `aggregate_id` waits in hold; TimeoutError after 10 s."""

    @abc.abstractmethod
    async def release(self, aggregate_id: str) -> None:
        """Let the appends to `aggregate_id` commit."""

    @abc.abstractmethod
    async def jitter(self, max_delay: float) -> None:
        """From now on every append waits a random 0 to `max_delay` s before it commits."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Remove holds, delays and triggers: the backend is as in production again."""


def commit_gate(backend: Backend) -> CommitGate:
    """The commit gate for `backend` (on this branch: the SQL backends but PostgreSQL)."""
    from ._sql import sql_gate

    return sql_gate(backend)
