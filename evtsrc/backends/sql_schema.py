"""The tables of the SQL backends, with names derived from one prefix.

Every index and constraint is named after its table, so two event stores can
share one database schema under different prefixes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.engine import Dialect

from .names import NAME_LENGTH, TableNames

__all__ = ["NAME_LENGTH", "TableNames", "Tables", "UTCDateTime", "main"]


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


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _name(exact_collation: str) -> sa.types.TypeEngine[str]:
    # Ids compare as exact strings everywhere: MariaDB's and MySQL's default
    # collations would make "a", "A" and "a " one aggregate.
    exact = mysql.VARCHAR(NAME_LENGTH, charset="utf8mb4", collation=exact_collation)
    return sa.String(NAME_LENGTH).with_variant(exact, "mysql", "mariadb")


class Tables:
    """SQLAlchemy Core tables for one event store on one dialect."""

    def __init__(self, names: TableNames, dialect: str, *, mariadb: bool = True) -> None:
        self.names = names
        self.metadata = sa.MetaData()
        # Binary, no-pad collations: MariaDB's has this name, MySQL 8's the other.
        collation = "utf8mb4_nopad_bin" if mariadb else "utf8mb4_0900_bin"
        # PostgreSQL positions are computed from the writing transaction's id (see
        # the backend); elsewhere the database numbers rows as they are inserted.
        assigned = dialect != "postgresql"
        self.events = sa.Table(
            names.events,
            self.metadata,
            sa.Column(
                "position",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                primary_key=True,
                autoincrement=assigned,
            ),
            sa.Column("stream", _name(collation), nullable=False),
            sa.Column("aggregate_id", _name(collation), nullable=False),
            sa.Column("version", sa.Integer(), nullable=False),
            sa.Column("type", _name(collation), nullable=False),
            sa.Column("data", _json(), nullable=False),
            sa.Column("timestamp", UTCDateTime(), nullable=False),
            sa.UniqueConstraint("stream", "aggregate_id", "version", name=names.version_constraint),
            sa.Index(f"{names.events}_stream_ix", "stream", "position"),
            sqlite_autoincrement=True,
            mysql_charset="utf8mb4",
        )
        self.snapshots = sa.Table(
            names.snapshots,
            self.metadata,
            sa.Column("stream", _name(collation), primary_key=True),
            sa.Column("aggregate_id", _name(collation), primary_key=True),
            sa.Column("version", sa.Integer(), nullable=False),
            sa.Column("key", _name(collation), nullable=False),
            sa.Column("state", _json(), nullable=False),
            mysql_charset="utf8mb4",
        )
        self.bookmarks = sa.Table(
            names.bookmarks,
            self.metadata,
            sa.Column("name", _name(collation), primary_key=True),
            sa.Column("position", sa.BigInteger(), nullable=False),
            mysql_charset="utf8mb4",
        )

    def ddl(self, dialect: Dialect) -> str:
        """The CREATE statements for these tables, as SQL text for `dialect`."""
        statements: list[str] = []
        for table in self.metadata.sorted_tables:
            statements.append(str(sa.schema.CreateTable(table).compile(dialect=dialect)).strip())
            for index in table.indexes:
                statements.append(str(sa.schema.CreateIndex(index).compile(dialect=dialect)))
        return ";\n\n".join(statements) + ";\n"


def main(argv: list[str] | None = None) -> int:
    """Print the DDL: `python -m evtsrc.backends.sql_schema DIALECT [PREFIX]`."""
    import argparse

    from sqlalchemy.dialects.mysql.base import MySQLDialect
    from sqlalchemy.dialects.postgresql.base import PGDialect
    from sqlalchemy.dialects.sqlite.base import SQLiteDialect

    dialects: dict[str, Dialect] = {
        "postgresql": PGDialect(),  # type: ignore[no-untyped-call]
        "mariadb": MySQLDialect(is_mariadb=True),
        "mysql": MySQLDialect(),
        "sqlite": SQLiteDialect(),
    }
    parser = argparse.ArgumentParser(description="Print the CREATE statements of an event store.")
    parser.add_argument("dialect", choices=sorted(dialects))
    parser.add_argument("prefix", nargs="?", default=TableNames().prefix)
    options = parser.parse_args(argv)
    dialect = dialects[options.dialect]
    tables = Tables(TableNames(options.prefix), dialect.name, mariadb=options.dialect != "mysql")
    print(tables.ddl(dialect), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
