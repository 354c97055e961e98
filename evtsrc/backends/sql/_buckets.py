"""Filling in the bucket keys of events stored before the events table had them.

Every append stores `base.bucket_key(aggregate_id)` in its events' `bucket_key` column.
A store made before has events without one (NULL), which `create_schema()` fills in,
computing each key in Python (the databases have no CRC-32 in common), with the
statements here: their text is written once, in each driver's placeholder style.

The fill goes down from the newest event without a key, `FILL_BATCH` of them at a time,
each batch in a transaction of its own (a large store needs no huge one): a batch
updates the events of each aggregate it found from the lowest position it reached on.
So at any time the events stored before the upgrade that lack a key are all below
those that have one: if the oldest event has its key, they all have, and on a filled
store `create_schema()` looks only at the oldest and the newest event (`probe`; the
newest lacks one when a process of an earlier evtsrc appended last). Appends meanwhile
store their key, and an interrupted fill picks up where it stopped. Events an earlier
evtsrc appends after the upgrade may keep none: a bucket read also takes the events
without a key and keeps those of its bucket (`_support.buckets`), so it never skips one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol

import attrs

from ..base import bucket_key
from ._ddl import Dialect
from ._identifiers import quote

Placeholders = Literal["?", "$", "%s"]
"""`?` for sqlite3 and aiosqlite, `$` for asyncpg (`$1`, `$2`, ...), `%s` for MySQL drivers."""

FILL_BATCH = 1000
"""Events without a key one batch of the fill takes at most."""

NO_POSITION_ABOVE = 2**63 - 1
"""Where the fill starts: above every position (the largest BIGINT)."""


class Row(Protocol):
    """A row as a driver returns it: its columns by index."""

    def __getitem__(self, index: int, /) -> Any: ...


@attrs.frozen
class FillStatements:
    """The fill's statements on one events table, parameters in the order given."""

    probe: str
    """A row if the oldest or the newest event has no key (no parameters)."""
    unkeyed: str
    """(position, stream, aggregate_id) of at most (limit) events without a key below
    (before), newest first."""
    fill: str
    """Set (key) on the events of (stream, aggregate_id) without one from (low) on."""


def fill_statements(table: str, dialect: Dialect, placeholders: Placeholders) -> FillStatements:
    """The statements on the events table named `table` (unquoted), for `dialect`."""
    mark = "`" if dialect in ("mariadb", "mysql") else '"'
    events = quote(table, mark)
    if placeholders == "%s":  # the driver reads every other % as a marker
        events = events.replace("%", "%%")
    position = f"{mark}position{mark}"

    def render(template: str, *parameters: str) -> str:
        if placeholders == "$":
            marks = {name: f"${index}" for index, name in enumerate(parameters, start=1)}
        else:
            marks = dict.fromkeys(parameters, placeholders)
        return template.format(events=events, position=position, **marks)

    return FillStatements(
        probe=render(
            "SELECT 1 FROM {events} WHERE {position} IN ((SELECT min({position}) FROM {events}), "
            "(SELECT max({position}) FROM {events})) AND bucket_key IS NULL"
        ),
        unkeyed=render(
            "SELECT {position}, stream, aggregate_id FROM {events} "
            "WHERE {position} < {before} AND bucket_key IS NULL "
            "ORDER BY {position} DESC LIMIT {limit}",
            "before",
            "limit",
        ),
        fill=render(
            "UPDATE {events} SET bucket_key = {key} WHERE stream = {stream} "
            "AND aggregate_id = {aggregate_id} AND {position} >= {low} AND bucket_key IS NULL",
            "key",
            "stream",
            "aggregate_id",
            "low",
        ),
    )


def fill_values(rows: Sequence[Row]) -> list[tuple[int, str, str, int]]:
    """The parameters of `fill` for a batch of `unkeyed` rows: one set per aggregate.

    Each from the batch's lowest position (its last row's) on: the events below it are
    the next batch's.
    """
    low = rows[-1][0]
    assert isinstance(low, int)
    aggregates = dict.fromkeys((str(row[1]), str(row[2])) for row in rows)
    return [(bucket_key(aggregate), stream, aggregate, low) for stream, aggregate in aggregates]
