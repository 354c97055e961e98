"""The SQLAlchemy Core tables of an event store, made from the description in `_layout`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.engine import Dialect

from ..names import NAME_LENGTH, TableNames
from ._ddl import EXACT_COLLATIONS
from ._layout import Column, Kind, Table, event_store


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database (naive UTC where it has no zones)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _type(kind: Kind, collation: str) -> sa.types.TypeEngine[Any]:
    if kind is Kind.NAME:
        exact = mysql.VARCHAR(NAME_LENGTH, charset="utf8mb4", collation=collation)
        return sa.String(NAME_LENGTH).with_variant(exact, "mysql", "mariadb")
    if kind is Kind.INTEGER:
        return sa.Integer()
    if kind is Kind.BIGINT:
        return sa.BigInteger()
    if kind is Kind.POSITION:
        return sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    if kind is Kind.JSON:
        return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    if kind is Kind.JSON_TEXT:
        return sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
    if kind is Kind.TEXT:
        return sa.Text()
    if kind is Kind.UUID:
        return sa.String(36).with_variant(postgresql.UUID(as_uuid=False), "postgresql")
    return UTCDateTime()


class Tables:
    """SQLAlchemy Core tables for one event store on one dialect."""

    def __init__(self, names: TableNames, dialect: str, *, mariadb: bool = True) -> None:
        self.names = names
        self.metadata = sa.MetaData()
        collation = EXACT_COLLATIONS["mariadb" if mariadb else "mysql"]
        # PostgreSQL positions are computed by the appending statement (see
        # pg_positions); elsewhere the database numbers rows as they are inserted.
        numbered = dialect != "postgresql"
        bookmarks, events, members, parked, processed, snapshots = (
            self._table(table, collation, numbered) for table in event_store(names)
        )
        self.bookmarks = bookmarks
        self.events = events
        self.snapshots = snapshots
        self.parked = parked
        self.members = members
        self.processed = processed

    def _table(self, table: Table, collation: str, numbered: bool) -> sa.Table:
        return sa.Table(
            table.name,
            self.metadata,
            *(self._column(column, table, collation, numbered) for column in table.columns),
            *(sa.UniqueConstraint(*key.columns, name=key.name) for key in table.uniques),
            *(sa.Index(key.name, *key.columns) for key in table.indexes),
            sqlite_autoincrement=any(c.kind is Kind.POSITION for c in table.columns),
            mysql_charset="utf8mb4",
        )

    @staticmethod
    def _column(column: Column, table: Table, collation: str, numbered: bool) -> sa.Column[Any]:
        key = column.name in table.primary_key
        return sa.Column(
            column.name,
            _type(column.kind, collation),
            primary_key=key,
            nullable=column.nullable,
            server_default=None if column.default is None else sa.text(column.default),
            autoincrement=numbered if column.kind is Kind.POSITION else "auto",
        )

    def ddl(self, dialect: Dialect) -> str:
        """The CREATE statements for these tables, as SQL text for `dialect`."""
        statements: list[str] = []
        for table in self.metadata.sorted_tables:
            statements.append(str(sa.schema.CreateTable(table).compile(dialect=dialect)).strip())
            for index in table.indexes:
                statements.append(str(sa.schema.CreateIndex(index).compile(dialect=dialect)))
        return ";\n\n".join(statements) + ";\n"
