"""The native PostgreSQL backend on asyncpg: the fastest path to PostgreSQL.

It uses the same tables as `SqlAlchemyBackend`
on PostgreSQL, so either can read what the other wrote, and the same ordering
scheme: a position is the writing transaction's id shifted left by 20 bits plus
the event's index in its append, and readers see only positions below the
oldest transaction still running (`pg_snapshot_xmin`). Writers never wait for
each other; a transaction left open anywhere on the server holds readers back
until it ends. Once an append has committed, the backend `NOTIFY`s the events
table's channel, so tailing handlers wake within milliseconds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._backend import PostgresBackend
    from ._batch import PgBatchTransaction

__all__ = ["PgBatchTransaction", "PostgresBackend"]


def __getattr__(name: str) -> object:
    """The backend's classes, imported (with asyncpg) when first asked for.

    `SqlAlchemyBackend` imports `_positions` whatever its database, so importing
    this package must not need asyncpg, which only PostgreSQL users install.
    """
    if name in __all__:
        from . import _backend

        return getattr(_backend, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
