"""What `SqlAlchemyBackend` does differently on each kind of database, chosen once.

A `Dialect` holds every difference between SQLite, MariaDB/MySQL and PostgreSQL:
how an append takes its positions in commit order (docs/concepts/ordering), how
payloads come back, which rows a reader may see, the bookmark upsert, leases and
push. The backend calls it instead of testing the dialect's name. The append
defined here, for the databases that number rows as they insert them, checks
the version and inserts in one transaction that `writing()` opens.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..._errors import AlreadyProcessed, VersionConflict
from ..._jsontypes import JSONObject
from .._support import jsontext
from ..base import (
    AppendListener,
    Bucket,
    EventRecord,
    Lease,
    NewEvent,
    Once,
    UndecodablePayload,
    bucket_key,
    local_lease_holder,
)
from ..names import TableNames
from ..sql._buckets import FillStatements, Placeholders, fill_statements
from ..sql._ddl import Dialect as SchemaDialect
from ..sql._ddl import add_column_statements, upgraded_tables
from ..sql._listing import ListingStatements, Statement, listing_statements
from ..sql._tables import Tables
from ._errors import outage


class Dialect(abc.ABC):
    """The rules of one kind of database, for one event store on one engine."""

    store: ClassVar[str]
    """The database's name in errors."""
    write_options: ClassVar[Mapping[str, object]] = {}
    """Execution options of a transaction that appends or runs a handler's batch."""

    def __init__(
        self,
        engine: AsyncEngine,
        names: TableNames,
        *,
        lock_timeout: float,
        connect_timeout: float,
    ) -> None:
        self.engine = engine
        self.names = names
        self.lock_timeout = lock_timeout
        self.connect_timeout = connect_timeout
        self.outage = outage(self.store)
        """Which errors of this engine's driver mean an outage (raised as `StoreUnavailable`)."""
        self.prepare_engine()

    def prepare_engine(self) -> None:
        """Set up the engine's connections for this database; nothing by default."""

    def tables(self) -> Tables:
        """The event store's tables for the engine's dialect, as far as it is known yet."""
        # A mysql:// URL learns whether the server is MariaDB on its first connection.
        mariadb = bool(getattr(self.engine.dialect, "is_mariadb", False))
        return Tables(self.names, self.engine.dialect.name, mariadb=mariadb)

    def create_schema(self, connection: sa.Connection, tables: Tables) -> None:
        """Create the tables that do not exist; add the columns older tables lack."""
        tables.metadata.create_all(connection, checkfirst=True)
        inspector = sa.inspect(connection)
        present = {
            name: {column["name"] for column in inspector.get_columns(name)}
            for name in upgraded_tables(self.names)
        }
        dialect = connection.dialect
        # The driver may read % as a parameter marker, even with no parameters.
        percent = "%%" if dialect.paramstyle in ("format", "pyformat") else "%"
        for statement in add_column_statements(self.names, _schema_dialect(dialect), present):
            connection.exec_driver_sql(statement.replace("%", percent))

    # -- events ------------------------------------------------------------------------------

    async def append(
        self,
        tables: Tables,
        stream: str,
        aggregate_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        once: Once | None = None,
    ) -> Sequence[EventRecord]:
        """Check the version and insert in one `writing()` transaction; the rows as stored.

        With `once`, its key is recorded first in the transaction (`record_processed`):
        if it was recorded before, the transaction rolls back and `AlreadyProcessed`.
        """
        table = tables.events
        key = bucket_key(aggregate_id)
        current_version = (
            sa.select(sa.func.coalesce(sa.func.max(table.c.version), 0))
            .where(table.c.stream == stream, table.c.aggregate_id == aggregate_id)
            .scalar_subquery()
        )
        rows: list[dict[str, Any]] = [
            {
                "stream": stream,
                "aggregate_id": aggregate_id,
                "version": expected_version + index,
                "type": event.type,
                "data": event.data,
                "timestamp": event.timestamp,
                "event_id": event.event_id,
                "event_version": event.event_version,
                "metadata": metadata,
                "bucket_key": key,
            }
            for (index, event), metadata in zip(
                enumerate(events, start=1),
                jsontext.texts([e.metadata for e in events]),
                strict=True,
            )
        ]
        with self.outage.appending(stream, aggregate_id) as sending:
            async with self.writing() as connection:
                if once is not None:
                    recorded = await connection.execute(
                        self.record_processed(tables.processed, once)
                    )
                    if self.recorded_before(recorded):
                        raise AlreadyProcessed(once.inbox, once.key)
                version = await connection.scalar(sa.select(current_version))
                if version != expected_version:
                    raise VersionConflict(stream, aggregate_id, expected_version)
                sending.sent()
                result = await connection.execute(
                    sa.insert(table).returning(table.c.position, sort_by_parameter_order=True),
                    rows,
                )
                return [
                    EventRecord(
                        stream,
                        aggregate_id,
                        row["version"],
                        position,
                        row["timestamp"],
                        row["type"],
                        row["data"],
                        row["event_id"],
                        row["event_version"],
                        row["metadata"],
                    )
                    for row, (position,) in zip(rows, result, strict=True)
                ]

    @asynccontextmanager
    async def writing(self) -> AsyncGenerator[AsyncConnection]:
        """A transaction in which positions are taken in commit order."""
        async with self.engine.connect() as connection:
            connection = await connection.execution_options(**self.write_options)
            async with connection.begin():
                yield connection

    @abc.abstractmethod
    def is_version_clash(self, error: Exception) -> bool:
        """Whether `error` is the database refusing a second event at one version."""

    def payload_text(self, data: sa.Column[Any]) -> sa.ColumnElement[str]:
        """The payload column as its JSON text, whatever the engine's deserializer."""
        return sa.type_coerce(data, sa.Text)

    def event_id_text(self, event_id: sa.Column[Any]) -> sa.ColumnElement[str]:
        """The event id column as text (it is text but on PostgreSQL)."""
        return event_id

    def payloads(self, texts: list[str]) -> list[JSONObject | UndecodablePayload]:
        """The payloads of a page of events, each parsed alone: a bad one fails alone."""
        return [jsontext.load_payload(text) for text in texts]

    def visible(self, table: sa.Table, stream: str) -> list[sa.ColumnElement[bool]]:
        """The conditions on the events of `stream` a reader may see now."""
        return [table.c.stream == stream]

    def stream_page(
        self,
        events: sa.Select[Any],
        table: sa.Table,
        streams: Sequence[str],
        after_position: int,
        limit: int,
        bucket: Bucket | None = None,
    ) -> sa.Select[Any] | sa.CompoundSelect[Any]:
        """`events` of `streams` a reader may see, the first `limit` after a position.

        One ordered, limited read per stream, merged: each stops early in its index,
        where `stream IN (...)` would fetch every later event of them all and sort.
        With `bucket`, only its events and those without a stored key (see
        `_support.buckets`): filtered as each stream's index is read.
        """
        also: list[sa.ColumnElement[bool]] = []
        if bucket is not None:
            key = table.c.bucket_key
            also.append(sa.or_(key % bucket.count == bucket.index, key.is_(None)))
        parts = [
            events.where(table.c.position > after_position, *self.visible(table, stream), *also)
            .order_by(table.c.position)
            .limit(limit)
            for stream in streams
        ]
        if len(parts) == 1:
            return parts[0]
        merged = sa.union_all(*(sa.select(part.subquery()) for part in parts)).subquery()
        return sa.select(merged).order_by(merged.c.position).limit(limit)

    # -- bookmarks and handlers --------------------------------------------------------------

    @abc.abstractmethod
    def store_bookmark(self, table: sa.Table, name: str, position: int) -> sa.Executable:
        """The statement that stores `position` for bookmark `name`, replacing what is stored."""

    @abc.abstractmethod
    def record_processed(self, table: sa.Table, once: Once) -> sa.Executable:
        """The statement that records `once`'s key, changing nothing if it is recorded.

        `recorded_before` reads from its result whether it was.
        """

    def recorded_before(self, result: sa.CursorResult[Any]) -> bool:
        """Whether `record_processed` found its key recorded: it inserted no row."""
        return result.rowcount == 0

    @abc.abstractmethod
    def store_member(self, table: sa.Table, group: str, member: str, expires: int) -> sa.Executable:
        """The statement that stores `member` of `group` until `expires`, replacing its expiry."""

    def lease(self, name: str) -> Lease | None:
        """A lease other processes see, or None for the backend's in-process default."""
        return None

    async def lease_holder(self, name: str, scope: object) -> str | None:
        """Who holds `lease(name)`; by default `LocalLease`'s of `scope` (the backend)."""
        return local_lease_holder(scope, name)

    def bucket_fill(self) -> FillStatements:
        """The statements that fill in bucket keys (`sql._buckets`), in the driver's style."""
        dialect = self.engine.dialect
        return fill_statements(self.names.events, _schema_dialect(dialect), _placeholders(dialect))

    def listing(self) -> ListingStatements:
        """The statements listing streams and aggregates (`sql._listing`), in the driver's style."""
        dialect = self.engine.dialect
        return listing_statements(self.names, _schema_dialect(dialect), _placeholders(dialect))

    async def aggregate_listing(self, connection: AsyncConnection) -> Statement:
        """The statement that lists a stream's aggregate ids by code point, on this database.

        `listing().aggregates`: SQLite, MariaDB and MySQL compare names by code point.
        """
        return self.listing().aggregates

    async def listen(self, streams: Sequence[str]) -> AppendListener | None:
        """A listener the database pushes appends to, or None to poll."""
        return None


def record_values(once: Once) -> dict[str, object]:
    """The row `record_processed` inserts for `once`, recorded now."""
    return {"inbox": once.inbox, "message_key": once.key, "processed_at": datetime.now(UTC)}


def _placeholders(dialect: sa.engine.Dialect) -> Placeholders:
    """The parameter markers of `dialect`'s driver, in `exec_driver_sql` statements."""
    if dialect.paramstyle == "qmark":
        return "?"
    if dialect.paramstyle == "numeric_dollar":
        return "$"
    if dialect.paramstyle in ("format", "pyformat"):
        return "%s"
    raise ValueError(f"evtsrc does not support the {dialect.paramstyle!r} parameter style")


def _schema_dialect(dialect: sa.engine.Dialect) -> SchemaDialect:
    """Which of `_ddl`'s dialects `dialect` is."""
    if dialect.name in ("postgresql", "sqlite"):
        return "postgresql" if dialect.name == "postgresql" else "sqlite"
    return "mariadb" if getattr(dialect, "is_mariadb", False) else "mysql"
