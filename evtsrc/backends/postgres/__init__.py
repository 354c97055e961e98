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

from ._backend import PostgresBackend
from ._batch import PgBatchTransaction

__all__ = ["PgBatchTransaction", "PostgresBackend"]
