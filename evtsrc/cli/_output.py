"""How commands print: rich tables for people, JSON for scripts, plain lines when piped.

Rich colours a terminal only; piped, it prints plain text as wide as `COLUMNS` (80 if
unset). Every cell is a `Text`, so brackets in stored data are never read as markup.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

NONE = "-"
"""What a cell shows for nothing: no value, not known, not applicable."""


def console() -> Console:
    """The console of standard output: colours on a terminal only, no guessing at highlights."""
    return Console(highlight=False, soft_wrap=False)


def table(*columns: str, title: str | None = None) -> Table:
    """A table with these column headers; numbers' columns (named in `RIGHT`) to the right."""
    made = Table(title=title, title_justify="left", box=None, pad_edge=False, header_style="bold")
    for column in columns:
        made.add_column(column, justify="right" if column in RIGHT else "left", overflow="fold")
    return made


RIGHT = frozenset({"position", "head", "lag", "version", "ev", "parked", "behind"})
"""Column headers whose values are numbers (or durations), aligned right."""


def row(target: Table, *cells: object, style: str | None = None) -> None:
    """Add a row of `cells`, each shown as text (None as `NONE`), never read as markup."""
    target.add_row(*(Text(NONE if cell is None else str(cell)) for cell in cells), style=style)


def print_table(shown: Table) -> None:
    """Print a table to standard output."""
    console().print(shown)


def print_json(document: object) -> None:
    """Print one JSON document (a line of JSON Lines, or a whole document) to standard output."""
    click.echo(json.dumps(document, ensure_ascii=False, default=_json_default))


def print_json_lines(documents: Iterable[Mapping[str, object]]) -> None:
    """Print each document as one line of JSON."""
    for document in documents:
        print_json(document)


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return iso(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def iso(moment: datetime) -> str:
    """A moment in UTC as ISO 8601, to the microsecond: `2024-05-01T12:00:00.123456Z`."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def when(moment: datetime) -> str:
    """A moment for a table: UTC, to the millisecond."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def duration(seconds: float | None) -> str:
    """A lag in time for a table: `NONE` for none, else `850ms`, `42s`, `3m07s`, `2h05m`..."""
    if seconds is None:
        return NONE
    if seconds < 1:
        return f"{max(seconds, 0) * 1000:.0f}ms"
    whole = int(seconds)
    for unit, size, smaller, small_size in (
        ("d", 86400, "h", 3600),
        ("h", 3600, "m", 60),
        ("m", 60, "s", 1),
    ):
        if whole >= size:
            return f"{whole // size}{unit}{whole % size // small_size:02d}{smaller}"
    return f"{whole}s"
