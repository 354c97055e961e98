"""How asyncpg reports a server that is gone, for both backends that speak to PostgreSQL.

`PostgresBackend` and `SqlAlchemyBackend` on PostgreSQL (through asyncpg) tell a lost
connection from a refused statement the same way.
"""

from __future__ import annotations

import asyncpg

from .._support.outage import Outage

LOST = (
    OSError,  # refused, reset, timed out (TimeoutError is an OSError)
    asyncpg.PostgresConnectionError,  # class 08, and a connection closed mid-statement
    asyncpg.CannotConnectNowError,  # starting up or shutting down
    asyncpg.AdminShutdownError,  # pg_terminate_backend, a fast or immediate shutdown
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    # A statement on a connection whose termination notice has arrived and whose
    # socket has not closed yet: asyncpg refuses it before sending anything.
    asyncpg.InternalClientError,
)
"""asyncpg's errors for a server that cannot be reached or a connection that was lost."""

SENT_AND_LOST = (OSError, asyncpg.ConnectionDoesNotExistError)
"""Of `LOST`, those that can mean the server applied a statement whose answer was lost.

The others are the server's own word that the statement failed (its transaction rolled
back) or never started.
"""

OUTAGE = Outage("PostgreSQL", LOST, answer_lost=lambda error: isinstance(error, SENT_AND_LOST))
