"""The tables of the SQL backends, with names derived from one prefix.

Every index and constraint is named after its table, so two event stores can
share one database schema under different prefixes. `Tables` and `UTCDateTime`
need SQLAlchemy; the rest of this module, and printing the DDL with
`python -m evtsrc.backends.sql_schema DIALECT [PREFIX]`, need nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .names import NAME_LENGTH, TableNames
from .sql._ddl import DIALECTS, schema_sql

if TYPE_CHECKING:
    from .sql._tables import Tables, UTCDateTime

__all__ = ["NAME_LENGTH", "TableNames", "Tables", "UTCDateTime", "main"]


def __getattr__(name: str) -> object:
    # Tables and UTCDateTime import SQLAlchemy, only when they are asked for.
    if name in ("Tables", "UTCDateTime"):
        try:
            from .sql import _tables
        except ModuleNotFoundError as error:
            raise ImportError(
                f"{__name__}.{name} needs SQLAlchemy: pip install 'evtsrc[sqlalchemy]'"
            ) from error
        return getattr(_tables, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main(argv: list[str] | None = None) -> int:
    """Print the DDL: `python -m evtsrc.backends.sql_schema DIALECT [PREFIX]`."""
    import argparse

    parser = argparse.ArgumentParser(description="Print the CREATE statements of an event store.")
    parser.add_argument("dialect", choices=DIALECTS)
    parser.add_argument("prefix", nargs="?", default=TableNames().prefix)
    options = parser.parse_args(argv)
    print(schema_sql(TableNames(options.prefix), options.dialect), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
