"""Which errors of SQLAlchemy's drivers mean an outage, and the codes the dialects read."""

from __future__ import annotations

import socket

from sqlalchemy import exc as sa_exc

from .._support.outage import Outage, causes
from ..sql._sqlite_errors import UNREACHABLE_CODES

UNIQUE_VIOLATION = "23505"
UNTRANSLATABLE_CHARACTER = "22P05"
NUL_MESSAGE = "PostgreSQL cannot store the NUL character (\\u0000) in JSON strings"


def sqlstate(error: sa_exc.DBAPIError) -> str | None:
    """The SQLSTATE of a PostgreSQL driver's error, if it has one."""
    for candidate in (error.orig, getattr(error.orig, "__cause__", None)):
        state = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(state, str):
            return state
    return None


class AppendLockTimeout(TimeoutError):
    """MariaDB/MySQL: the append lock stayed taken by other writers for `lock_timeout` seconds.

    Contention on a reachable server, not an outage: nothing was written.
    """


# The drivers' codes for "could not connect", "the connection was lost" and "the
# server is going away or starting": the client-side CR_* errors and the server's
# too-many-connections, shutdown-in-progress and connection-killed errors.
MYSQL_CONNECTION_CODES = frozenset({1040, 1053, 1927, 2002, 2003, 2005, 2006, 2013, 2055})
# SQLSTATE class 08 (connection exception), 53300 too many connections, and 57P01-03
# (administrator shutdown, crash shutdown, cannot connect now).
PG_CONNECTION_STATES = frozenset({"53300", "57P01", "57P02", "57P03"})
SQLITE_UNREACHABLE = UNREACHABLE_CODES
"""SQLite's codes for a file that cannot be opened or read (not "database is locked")."""
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    sa_exc.TimeoutError,  # no pooled connection free within pool_timeout
    ConnectionError,  # refused, reset, aborted (raised as itself by asyncpg's connect)
    TimeoutError,  # asyncpg's connect timeout
    socket.gaierror,  # the host name does not resolve
)
"""The exception classes that always mean an outage, for every dialect."""


def connection_lost(error: BaseException) -> bool:
    """Whether a driver error (not in `CONNECTION_ERRORS`) means an outage, by its code."""
    for cause in causes(error):
        if isinstance(cause, sa_exc.DBAPIError):
            if cause.connection_invalidated:  # SQLAlchemy's own disconnect detection
                return True
            continue
        if isinstance(cause, ConnectionError | socket.gaierror):
            return True
        state = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
        if isinstance(state, str) and (state.startswith("08") or state in PG_CONNECTION_STATES):
            return True
        code = getattr(cause, "sqlite_errorcode", None)
        if isinstance(code, int) and code & 0xFF in SQLITE_UNREACHABLE:
            return True
        args = getattr(cause, "args", ())
        if (
            type(cause).__module__.split(".")[0] in ("asyncmy", "pymysql", "aiomysql")
            and args
            and args[0] in MYSQL_CONNECTION_CODES
        ):
            return True
    return False


def refused_before_sending(error: BaseException) -> bool:
    """Whether asyncpg refused the statement before sending it (its connection was closed)."""
    for cause in causes(error):
        if type(cause).__name__ == "InterfaceError" and type(cause).__module__.startswith(
            "asyncpg"
        ):
            return "connection is closed" in str(cause)
    return False


def outage(store: str) -> Outage:
    """The outage errors of an engine on `store`, whichever driver it uses."""
    return Outage(
        store,
        CONNECTION_ERRORS,
        also=connection_lost,
        answer_lost=lambda error: not refused_before_sending(error),
        excluded=(AppendLockTimeout,),
    )
