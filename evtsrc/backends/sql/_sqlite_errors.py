"""What SQLite's errors mean: a file that cannot be used (an outage), or a version clash.

A write lock that stays taken for the busy timeout ("database is locked",
`SQLITE_BUSY`) is contention on a reachable store, not an outage: it stays itself.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from .._support.outage import unavailable
from ..names import TableNames

SQLITE_IOERR = 10
SQLITE_CANTOPEN = 14
UNREACHABLE_CODES = frozenset({SQLITE_IOERR, SQLITE_CANTOPEN})
"""sqlite3 primary result codes that mean the database file cannot be opened or read."""

_APPENDS = ("insert_events",)
"""The jobs of `SqliteBackend` that append events (named as in `translated`)."""
_COMMITS = ("insert_events", "commit")
"""Its jobs that commit: an I/O error in them leaves the outcome unknown."""


def unreachable(error: BaseException) -> bool:
    """Whether `error` says the database file cannot be opened, read or written."""
    code = getattr(error, "sqlite_errorcode", None)
    return (
        isinstance(error, sqlite3.Error)
        and isinstance(code, int)
        and code & 0xFF in (UNREACHABLE_CODES)
    )


def translated(
    function: Callable[..., Any], args: tuple[Any, ...], error: BaseException
) -> BaseException:
    """`error` of a job, or the `StoreUnavailable` it means (every job's errors pass here).

    An I/O error while an append or a batch commits leaves its outcome unknown; a
    file that cannot be opened fails before anything is written.
    """
    if not isinstance(error, sqlite3.Error) or not unreachable(error):
        return error
    name = getattr(function, "__name__", "statement").strip("_")
    io_error = error.sqlite_errorcode & 0xFF == SQLITE_IOERR
    unknown = name in _COMMITS and io_error
    action = name.replace("_", " ")
    if name in _APPENDS and len(args) >= 2:
        action = f"append to {args[0]}/{args[1]}"
    return unavailable("SQLite", action, error, outcome_unknown=unknown)


def version_clash_message(names: TableNames) -> str:
    """What SQLite says when an insert breaks the version constraint of `names`' events."""
    events = names.events
    return f"UNIQUE constraint failed: {events}.stream, {events}.aggregate_id, {events}.version"
