"""`connect(url)`: the backend a store's URL names, for every backend evtsrc has.

| URL | backend | extra |
| --- | --- | --- |
| `memory://` | `InMemoryBackend` | |
| `sqlite:///events.db`, `sqlite:////var/lib/app/events.db` | `SqliteBackend` | |
| `postgresql://user@host/db` (or `postgres://`) | `PostgresBackend` (asyncpg) | postgres |
| `postgresql+asyncpg://...`, `sqlite+aiosqlite:///...` | `SqlAlchemyBackend` | sqlalchemy |
| `mariadb://...`, `mysql://...` (or `+asyncmy`) | `SqlAlchemyBackend` (asyncmy) | mariadb |
| `mongodb://host/db` (or `mongodb+srv://`) | `MongoBackend` (database `evtsrc` if none) | mongo |
| `neo4j://user:password@host/db` (or `bolt://`, `+s`, `+ssc`) | `Neo4jBackend` | neo4j |

SQLite paths follow SQLAlchemy's URLs: three slashes before a relative path, four before
an absolute one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator
from typing import TYPE_CHECKING
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

from .names import TableNames

if TYPE_CHECKING:
    from .base import Backend

_EXTRAS = {
    "postgres": "asyncpg",
    "sqlalchemy": "SQLAlchemy and aiosqlite",
    "sqlalchemy,postgres": "SQLAlchemy and asyncpg",
    "mariadb": "SQLAlchemy and asyncmy",
    "mongo": "pymongo",
    "neo4j": "the Neo4j driver",
}

DATABASES = {
    "memory": "memory",
    "sqlite": "sqlite",
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "postgresql+asyncpg": "postgresql",
    "sqlite+aiosqlite": "sqlite",
    "mariadb": "mariadb",
    "mysql": "mysql",
    "mariadb+asyncmy": "mariadb",
    "mysql+asyncmy": "mysql",
    "mongodb": "mongodb",
    "mongodb+srv": "mongodb",
    "neo4j": "neo4j",
    "neo4j+s": "neo4j",
    "neo4j+ssc": "neo4j",
    "bolt": "neo4j",
    "bolt+s": "neo4j",
    "bolt+ssc": "neo4j",
}
"""The URL schemes `connect` knows, and the database each names."""

SCHEMES = tuple(DATABASES)
"""The URL schemes `connect` knows."""


async def connect(url: str, *, tables: TableNames | None = None) -> Backend:
    """The backend for the store at `url` (see the table of this module), ready to use.

    `tables` names its tables, collections or labels (`TableNames()` unless given).
    The backend owns what it opened: `close()` it, or use it in `async with`. A URL
    of no known scheme raises `ValueError`; one whose backend's extra is not
    installed raises `ImportError` naming the extra. Connections are opened as the
    backend's own constructor does (PostgreSQL's pool at once, the others on first use).
    """
    if not isinstance(url, str):
        raise TypeError(f"a store URL is a str, not {type(url).__name__}")
    if tables is not None and not isinstance(tables, TableNames):
        raise TypeError(f"tables must be a TableNames, not {type(tables).__name__}")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "memory":
        from .memory import InMemoryBackend

        return InMemoryBackend()
    if scheme == "sqlite":
        from .sqlite import SqliteBackend

        return SqliteBackend(_sqlite_path(url, parts), tables=tables)
    if scheme in ("postgresql", "postgres"):
        with _extra("postgres", url):
            from .postgres import PostgresBackend

            return await PostgresBackend.connect(url, tables=tables)
    if scheme in ("postgresql+asyncpg", "sqlite+aiosqlite"):
        with _extra("sqlalchemy,postgres" if scheme == "postgresql+asyncpg" else "sqlalchemy", url):
            from .sqlalchemy import SqlAlchemyBackend

            return SqlAlchemyBackend(url, tables=tables)
    if scheme in ("mariadb", "mysql", "mariadb+asyncmy", "mysql+asyncmy"):
        with _extra("mariadb", url):
            from .sqlalchemy import SqlAlchemyBackend

            driver = parts._replace(scheme=scheme.split("+")[0] + "+asyncmy")
            return SqlAlchemyBackend(urlunsplit(driver), tables=tables)
    if scheme in ("mongodb", "mongodb+srv"):
        with _extra("mongo", url):
            from .mongo import MongoBackend

            return MongoBackend.connect(url, _database(parts) or "evtsrc", collections=tables)
    if scheme in ("neo4j", "neo4j+s", "neo4j+ssc", "bolt", "bolt+s", "bolt+ssc"):
        with _extra("neo4j", url):
            from .neo4j import Neo4jBackend

            auth, bare = _neo4j_parts(parts)
            return Neo4jBackend.connect(bare, auth=auth, database=_database(parts), labels=tables)
    known = ", ".join(f"{s}://" for s in SCHEMES)
    raise ValueError(f"no evtsrc backend for the store URL {redacted(url)!r}; known: {known}")


def redacted(url: str) -> str:
    """`url` with its password (if any) replaced by `***`: fit for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _sqlite_path(url: str, parts: SplitResult) -> str:
    if parts.netloc or not parts.path.startswith("/") or parts.path == "/":
        raise ValueError(
            f"a SQLite URL is sqlite:///relative/path.db or sqlite:////absolute/path.db, "
            f"not {url!r}"
        )
    return unquote(parts.path[1:])


def _database(parts: SplitResult) -> str | None:
    """The database named by the URL's path, if any."""
    return unquote(parts.path.lstrip("/")) or None


def _neo4j_parts(parts: SplitResult) -> tuple[tuple[str, str] | None, str]:
    """The credentials in the URL (if any), and the URL the driver takes: no user, no path."""
    auth = None
    if parts.username is not None:
        auth = (unquote(parts.username), unquote(parts.password or ""))
    host = parts.netloc.rpartition("@")[2]
    return auth, urlunsplit((parts.scheme, host, "", parts.query, ""))


@contextlib.contextmanager
def _extra(extra: str, url: str) -> Generator[None]:
    """Turn a missing driver module into an `ImportError` that names the extra to install."""
    try:
        yield
    except ModuleNotFoundError as error:
        what = _EXTRAS[extra]
        raise ImportError(
            f"the store URL {redacted(url)!r} needs {what}: pip install 'evtsrc[{extra}]' ({error})"
        ) from error
