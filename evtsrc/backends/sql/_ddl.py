"""The CREATE statements of an event store as SQL text, per dialect, without SQLAlchemy.

Made from the one description in `_layout`, in the very form SQLAlchemy gives
the tables of `_tables` (the tests compare the two): `SqliteBackend` creates its
tables with it, `PostgresBackend` can, and `python -m evtsrc.backends.sql_schema`
prints it with no driver installed.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Literal

import attrs

from ..names import NAME_LENGTH, TableNames
from ._identifiers import quote
from ._layout import Column, Kind, Table, event_store

Dialect = Literal["mariadb", "mysql", "postgresql", "sqlite"]
"""The SQL dialects evtsrc writes DDL for."""

DIALECTS: tuple[Dialect, ...] = ("mariadb", "mysql", "postgresql", "sqlite")

EXACT_COLLATIONS: Mapping[Dialect, str] = {
    "mariadb": "utf8mb4_nopad_bin",
    "mysql": "utf8mb4_0900_bin",
}
"""The binary, no-pad collation of names on MariaDB and MySQL 8: ids compare exactly,
where the default collations would make "a", "A" and "a " one aggregate."""


@attrs.frozen
class _Flavour:
    """How one dialect writes evtsrc's tables."""

    mark: str
    """The identifier quote."""
    reserved: frozenset[str]
    """The column names the dialect reserves (quoted)."""
    types: Mapping[Kind, str]
    numbering: str
    """What follows `NOT NULL` in the position column's definition."""
    inline_key: bool = False
    """Whether the position column declares itself the primary key."""
    table_options: str = ""
    default_first: bool = True
    """Whether a column's DEFAULT comes before its NOT NULL (as SQLAlchemy writes it)."""
    add_if_not_exists: bool = False
    """Whether `ALTER TABLE ... ADD COLUMN IF NOT EXISTS` is understood."""


_VARCHAR = f"VARCHAR({NAME_LENGTH})"


def _mysql(collation: str, reserved: frozenset[str], *, add_if_not_exists: bool) -> _Flavour:
    return _Flavour(
        "`",
        reserved,
        {
            Kind.NAME: f"{_VARCHAR} CHARACTER SET utf8mb4 COLLATE {collation}",
            Kind.INTEGER: "INTEGER",
            Kind.BIGINT: "BIGINT",
            Kind.POSITION: "BIGINT",
            Kind.JSON: "JSON",
            Kind.JSON_TEXT: "LONGTEXT",
            Kind.TEXT: "TEXT",
            Kind.UUID: "VARCHAR(36)",
            Kind.TIMESTAMP: "DATETIME(6)",
        },
        numbering=" AUTO_INCREMENT",
        table_options="CHARSET=utf8mb4",
        default_first=False,
        add_if_not_exists=add_if_not_exists,
    )


_FLAVOURS: Mapping[Dialect, _Flavour] = {
    "sqlite": _Flavour(
        '"',
        frozenset({"key"}),
        {
            Kind.NAME: _VARCHAR,
            Kind.INTEGER: "INTEGER",
            Kind.BIGINT: "BIGINT",
            Kind.POSITION: "INTEGER",
            Kind.JSON: "JSON",
            Kind.JSON_TEXT: "TEXT",
            Kind.TEXT: "TEXT",
            Kind.UUID: "VARCHAR(36)",
            Kind.TIMESTAMP: "DATETIME",
        },
        numbering=" PRIMARY KEY AUTOINCREMENT",
        inline_key=True,
    ),
    "postgresql": _Flavour(
        '"',
        frozenset(),
        {
            Kind.NAME: _VARCHAR,
            Kind.INTEGER: "INTEGER",
            Kind.BIGINT: "BIGINT",
            Kind.POSITION: "BIGINT",
            Kind.JSON: "JSONB",
            Kind.JSON_TEXT: "TEXT",
            Kind.TEXT: "TEXT",
            Kind.UUID: "UUID",
            Kind.TIMESTAMP: "TIMESTAMP WITH TIME ZONE",
        },
        numbering="",
        add_if_not_exists=True,
    ),
    "mariadb": _mysql(
        EXACT_COLLATIONS["mariadb"], frozenset({"key", "position"}), add_if_not_exists=True
    ),
    "mysql": _mysql(
        EXACT_COLLATIONS["mysql"], frozenset({"key", "member"}), add_if_not_exists=False
    ),
}


def create_statements(
    names: TableNames, dialect: Dialect, *, if_not_exists: bool = False
) -> tuple[str, ...]:
    """The statements that create the tables and the index of the event store `names`.

    With `if_not_exists` they leave what exists (SQLite, PostgreSQL and MariaDB
    take it; MySQL does not for the index).
    """
    flavour = _FLAVOURS[dialect]
    exists = "IF NOT EXISTS " if if_not_exists else ""
    statements: list[str] = []
    for table in event_store(names):
        table_name = quote(table.name, flavour.mark)
        lines = ", \n\t".join(_definitions(table, flavour))
        options = flavour.table_options
        statements.append(f"CREATE TABLE {exists}{table_name} (\n\t{lines}\n){options}")
        statements.extend(
            f"CREATE INDEX {exists}{quote(index.name, flavour.mark)} ON {table_name} "
            f"({_columns(index.columns, flavour)})"
            for index in table.indexes
        )
    return tuple(statements)


def schema_sql(names: TableNames, dialect: Dialect, *, if_not_exists: bool = False) -> str:
    """`create_statements` as one script: each statement ends with `;`, a blank line between."""
    return ";\n\n".join(create_statements(names, dialect, if_not_exists=if_not_exists)) + ";\n"


def upgraded_tables(names: TableNames) -> tuple[str, ...]:
    """The tables of the event store `names` that have columns a store made before lacks."""
    return tuple(table.name for table in event_store(names) if table.added)


def add_column_statements(
    names: TableNames, dialect: Dialect, present: Mapping[str, Collection[str]]
) -> tuple[str, ...]:
    """The ALTER TABLE statements that add the columns a store made before them lacks.

    `present` maps each existing table's name to its columns' names; a table not in
    it is left alone. Where the dialect takes `IF NOT EXISTS`, the statements do
    nothing if a concurrent `create_schema()` added the column first.
    """
    flavour = _FLAVOURS[dialect]
    exists = "IF NOT EXISTS " if flavour.add_if_not_exists else ""
    return tuple(
        f"ALTER TABLE {quote(table.name, flavour.mark)} ADD COLUMN {exists}"
        f"{_definition(column, flavour)}"
        for table in event_store(names)
        if table.name in present
        for column in table.added
        if column.name not in present[table.name]
    )


def _definition(column: Column, flavour: _Flavour) -> str:
    line = f"{_column(column.name, flavour)} {flavour.types[column.kind]}"
    default = "" if column.default is None else f" DEFAULT {column.default}"
    null = "" if column.nullable else " NOT NULL"
    return line + (default + null if flavour.default_first else null + default)


def _definitions(table: Table, flavour: _Flavour) -> list[str]:
    lines: list[str] = []
    inline_key = False
    for column in table.columns:
        line = _definition(column, flavour)
        if column.kind is Kind.POSITION:
            line += flavour.numbering
            inline_key = flavour.inline_key and table.primary_key == (column.name,)
        lines.append(line)
    if not inline_key:
        lines.append(f"PRIMARY KEY ({_columns(table.primary_key, flavour)})")
    lines.extend(
        f"CONSTRAINT {quote(unique.name, flavour.mark)} UNIQUE "
        f"({_columns(unique.columns, flavour)})"
        for unique in table.uniques
    )
    return lines


def _column(name: str, flavour: _Flavour) -> str:
    return f"{flavour.mark}{name}{flavour.mark}" if name in flavour.reserved else name


def _columns(names: tuple[str, ...], flavour: _Flavour) -> str:
    return ", ".join(_column(name, flavour) for name in names)
