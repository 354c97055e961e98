"""Listing a store's streams and a stream's aggregates: the statements every SQL backend runs.

SQLite and PostgreSQL list by a loose index scan: a recursive query whose every round
looks up the next name after the last one found, at the index's end for it (the
`(stream, position)` index, or the version constraint's `(stream, aggregate_id,
version)`). A page of `limit` names costs `limit` lookups, however many events each
aggregate holds; a `SELECT DISTINCT` would read every event of the stream.

MariaDB and MySQL do not look a correlated bound up in an index (each round would read
the stream's index from its start), and choose a GROUP BY's loose index scan by cost
(with a table's statistics missing, they read every event instead). So they look each
stream up with a statement of its own, one lookup in the stream index, and read a page
of aggregates from the version index in order from the first id after `after`, keeping
the version-1 entries: every entry of the page's aggregates' events is read, and no
other. Their statements name the index, which the optimizer would otherwise trade for
a read of every event of the stream where statistics are stale.

One statement lists at most `base.MOST_LISTED` names, so that none runs unbounded:
`base.listed` asks for more in turn.

Names are sorted and compared by the column's collation. SQLite (`BINARY`), MariaDB
and MySQL (evtsrc's binary collations) compare UTF-8 bytes, which is code point order,
Python's. PostgreSQL uses the database's collation, which is code point order only for
C, POSIX, C.UTF-8 or the builtin provider: elsewhere, `aggregates_by_code_point`
orders by `COLLATE "C"` instead, which no index of the store has, so each page reads
the stream's events (see `code_point_probe`). Streams are listed whole and sorted in
Python, so their lookups use the index whatever the collation.

The statement text is written here once per dialect, in each driver's placeholder style.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from typing import Literal

import attrs

from ..base import MOST_LISTED
from ..names import TableNames
from ._buckets import Row
from ._ddl import Dialect
from ._identifiers import quote

Placeholders = Literal["?", "$", "%s"]
"""`?` for sqlite3 and aiosqlite, `$` for asyncpg (`$1`, `$2`, ...), `%s` for MySQL drivers."""


@attrs.frozen
class Statement:
    """SQL text and the names of its parameters, in the order the driver takes them."""

    text: str
    parameters: tuple[str, ...]

    def arguments(self, **values: object) -> tuple[object, ...]:
        """The values of the parameters, in the driver's order."""
        return tuple(values[name] for name in self.parameters)


@attrs.frozen
class ListingStatements:
    """The listing statements on one events table; each returns one name per row, in order."""

    first_streams: Statement
    """The first (limit) streams that hold an event."""
    streams: Statement
    """The first (limit) streams that hold an event after (after)."""
    aggregates: Statement
    """The ids of the first (limit) aggregates of (stream) after (after)."""
    most_streams: int = MOST_LISTED
    """The most streams one statement lists: a `limit` above it gets no more."""


def listing_statements(
    names: TableNames, dialect: Dialect, placeholders: Placeholders
) -> ListingStatements:
    """The statements on the events table of `names`, for `dialect`."""
    mark = "`" if dialect in ("mariadb", "mysql") else '"'

    def table(index: str | None = None) -> str:
        named = quote(names.events, mark)
        if index is not None:
            named += f" FORCE INDEX ({quote(index, mark)})"
        # The driver reads every other % as a marker.
        return named.replace("%", "%%") if placeholders == "%s" else named

    if dialect in ("mariadb", "mysql"):
        # The indexes named: the optimizer would read every event of the stream, or of
        # the store, where the table's statistics are missing or stale.
        by_stream, by_version = table(names.stream_index), table(names.version_constraint)
        return ListingStatements(
            first_streams=_render(_NEXT_STREAM.format(where=""), placeholders, events=by_stream),
            streams=_render(
                _NEXT_STREAM.format(where="WHERE stream > {after} "),
                placeholders,
                events=by_stream,
            ),
            aggregates=_render(_FIRST_EVENTS.format(collate=""), placeholders, events=by_version),
            most_streams=1,
        )
    events = table()
    return ListingStatements(
        first_streams=_render(_NEXT_STREAMS.format(where=""), placeholders, events=events),
        streams=_render(
            _NEXT_STREAMS.format(where="WHERE stream > {after} "), placeholders, events=events
        ),
        aggregates=_render(_NEXT_AGGREGATES, placeholders, events=events),
    )


_NEXT_STREAMS = (
    "WITH RECURSIVE listed (stream, n) AS ("
    "SELECT (SELECT stream FROM {{events}} {where}ORDER BY stream LIMIT 1), 1 "
    "UNION ALL SELECT (SELECT e.stream FROM {{events}} e WHERE e.stream > listed.stream "
    "ORDER BY e.stream LIMIT 1), listed.n + 1 FROM listed "
    "WHERE listed.stream IS NOT NULL AND listed.n < {{limit}}) "
    "SELECT stream FROM listed WHERE stream IS NOT NULL ORDER BY n"
)
"""The streams, one index lookup each (`where` a bound, or nothing: from the first)."""

_NEXT_AGGREGATES = (
    "WITH RECURSIVE listed (aggregate_id, n) AS ("
    "SELECT (SELECT aggregate_id FROM {events} WHERE stream = {stream} "
    "AND aggregate_id > {after} ORDER BY aggregate_id LIMIT 1), 1 "
    "UNION ALL SELECT (SELECT e.aggregate_id FROM {events} e WHERE e.stream = {stream} "
    "AND e.aggregate_id > listed.aggregate_id ORDER BY e.aggregate_id LIMIT 1), "
    "listed.n + 1 FROM listed "
    "WHERE listed.aggregate_id IS NOT NULL AND listed.n < {limit}) "
    "SELECT aggregate_id FROM listed WHERE aggregate_id IS NOT NULL ORDER BY n"
)
"""A stream's aggregates, one index lookup each."""

_NEXT_STREAM = "SELECT stream FROM {{events}} {where}ORDER BY stream LIMIT {{limit}}"
"""The next stream, by one lookup, given a limit of 1 (`where` a bound, or nothing)."""

_FIRST_EVENTS = (
    "SELECT aggregate_id FROM {{events}} WHERE stream = {{stream}} "
    "AND aggregate_id{collate} > {{after}} AND version = 1 "
    "ORDER BY aggregate_id{collate} LIMIT {{limit}}"
)
"""A stream's aggregates as their first events: from the version index in its order, if
`collate` is the index's (nothing), reading every entry of the page's aggregates."""


def aggregates_by_code_point(names: TableNames) -> Statement:
    """PostgreSQL's listing of (limit) ids of (stream) after (after) where its collation is not C.

    Ordered by `COLLATE "C"` (code point order in UTF-8), which the version constraint's
    index, in the database's collation, cannot give: the stream's events are read (from
    the index or the table) and the page sorted. An index
    `ON events (stream, aggregate_id COLLATE "C", version)` serves it in order.
    """
    return _render(_FIRST_EVENTS.format(collate=' COLLATE "C"'), "$", events=quote(names.events))


def code_point_probe(names: TableNames) -> Statement:
    """PostgreSQL: the collation of the events table's `aggregate_id`, and the database's.

    One row of two JSON texts (every column, whatever the server's version), which
    `orders_by_code_point` reads; none if the table does not exist.
    """
    return _render(
        "SELECT to_jsonb(c)::text, to_jsonb(d)::text FROM pg_attribute a "
        "JOIN pg_collation c ON c.oid = a.attcollation "
        "JOIN pg_database d ON d.datname = current_database() "
        "WHERE a.attrelid = to_regclass({table}) AND a.attname = 'aggregate_id'",
        "$",
        table=_literal(quote(names.events)),
    )


def postgres_aggregates(names: TableNames, probed: Row | None) -> Statement:
    """PostgreSQL's listing of aggregate ids, given the row `code_point_probe` returned.

    The lookups of `listing_statements` where the collation sorts by code point,
    `aggregates_by_code_point` where not; the lookups where the table does not exist
    (no row: the listing fails as any read would, and the caller probes again next time).
    """
    if probed is None or orders_by_code_point(probed[0], probed[1]):
        return listing_statements(names, "postgresql", "$").aggregates
    return aggregates_by_code_point(names)


CODE_POINT_LOCALES = frozenset({"C", "POSIX", "C.UTF-8", "C.utf8", "C.UTF8", "C.utf-8"})
"""The libc locales whose collation is code point order (glibc's C.UTF-8 is, by definition)."""


def orders_by_code_point(collation_json: str, database_json: str) -> bool:
    """Whether the collation `code_point_probe` found sorts by code point, as Python does.

    The column's collation, or the database's where it is the default: libc's C, POSIX
    and C.UTF-8, and every collation of the builtin provider (PostgreSQL 17 and later).
    ICU and the other libc locales order by language rules instead.
    """
    collation: Mapping[str, object] = json.loads(collation_json)
    database: Mapping[str, object] = json.loads(database_json)
    if collation.get("collprovider") == "d":  # the database's default
        provider = database.get("datlocprovider", "c")  # before PostgreSQL 15: libc
        locale = database.get("datcollate")
    else:
        provider = collation.get("collprovider")
        locale = collation.get("collcollate")
    if provider == "b":
        return True
    return provider == "c" and locale in CODE_POINT_LOCALES


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _render(template: str, placeholders: Placeholders, **fixed: str) -> Statement:
    """`template` with its `fixed` fields filled in, the others parameters.

    Each parameter field becomes the driver's marker: `$n` numbered once per name, or
    `?` or `%s` at each place (its value is then passed at each).
    """
    text: list[str] = []
    names: list[str] = []
    for literal, field, _, _ in string.Formatter().parse(template):
        text.append(literal)
        if field is None:
            continue
        if field in fixed:
            text.append(fixed[field])
        elif placeholders == "$":
            if field not in names:
                names.append(field)
            text.append(f"${names.index(field) + 1}")
        else:
            names.append(field)
            text.append(placeholders)
    return Statement("".join(text), tuple(names))
