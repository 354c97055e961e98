"""Event storage on SQLAlchemy 2 Core with async engines: SQLite, MariaDB/MySQL, PostgreSQL.

`SqlAlchemyBackend("sqlite+aiosqlite:///events.db")`, or pass an
`AsyncEngine`. Call `SqlAlchemyBackend.create_schema()` once (it is
idempotent), or print `SqlAlchemyBackend.schema_sql()` for your migrations.

How each database keeps handlers from skipping events (see docs/concepts/ordering):

* SQLite: one writer at a time (`BEGIN IMMEDIATE`), so positions commit in order.
* MariaDB/MySQL: appends hold a named lock (`GET_LOCK`) from insert to commit,
  so positions commit in order; independent writers queue on that lock.
* PostgreSQL: a position is the writing transaction's id times 2**20 plus the
  event's index, and readers see only positions below the oldest transaction
  still running: writers never wait for each other, and a long-open
  transaction holds readers back until it ends. An append is
  `PostgresBackend`'s one statement, autocommitted, with the NOTIFY in it.
"""

from __future__ import annotations

from ._backend import SqlAlchemyBackend
from ._batch import SqlBatchTransaction
from ._errors import CONNECTION_ERRORS as CONNECTION_ERRORS
from ._errors import MYSQL_CONNECTION_CODES as MYSQL_CONNECTION_CODES
from ._errors import NUL_MESSAGE as NUL_MESSAGE
from ._errors import PG_CONNECTION_STATES as PG_CONNECTION_STATES
from ._errors import SQLITE_UNREACHABLE as SQLITE_UNREACHABLE
from ._errors import UNIQUE_VIOLATION as UNIQUE_VIOLATION
from ._errors import UNTRANSLATABLE_CHARACTER as UNTRANSLATABLE_CHARACTER
from ._errors import AppendLockTimeout
from ._errors import connection_lost as connection_lost

__all__ = ["AppendLockTimeout", "SqlAlchemyBackend", "SqlBatchTransaction"]
